"""Installing a converted model folder when two processes convert at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.generate.model import install


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "config.json").write_text(text)
    return path


def test_install_moves_the_conversion_into_place(tmp_path: Path) -> None:
    tmp = _folder(tmp_path / ".convert-a", "ours")
    install(tmp, tmp_path / "model")
    assert (tmp_path / "model" / "config.json").read_text() == "ours"
    assert not tmp.exists()


def test_a_complete_folder_from_another_process_is_kept(tmp_path: Path) -> None:
    target = _folder(tmp_path / "model", "theirs")
    (target / "weights").write_text("w")  # a non-empty folder: os.replace refuses
    tmp = _folder(tmp_path / ".convert-b", "ours")
    install(tmp, target)
    assert (target / "config.json").read_text() == "theirs"
    assert not tmp.exists()


def test_an_incomplete_target_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "partial").write_text("x")
    tmp = _folder(tmp_path / ".convert-c", "ours")
    with pytest.raises(OSError):
        install(tmp, target)
    assert tmp.exists()  # convert_gguf's handler removes it
