"""``policy:`` targets take a stored version or a saved VW model, and nothing else."""

from __future__ import annotations

import gc
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InputError
from optimizer.offline import make_target

FIX = (
    "; give a stored policy version or the path of a model file saved by learn or run "
    "(with its .json beside it)"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A VW policy saved by ``VWPolicy.save``: ``policy.vw`` and ``policy.vw.json``."""
    from optimizer.allocate.vw import VWPolicy

    path = tmp_path_factory.mktemp("model") / "policy.vw"
    VWPolicy(seed=1).save(path)
    return path


def _copy(model: Path, to: Path, body: bytes | None = None) -> Path:
    """``to`` with the model's metadata beside it and the model (or ``body``) as content."""
    to.parent.mkdir(parents=True, exist_ok=True)
    if body is None:
        shutil.copy(model, to)
    else:
        to.write_bytes(body)
    shutil.copy(model.with_suffix(".vw.json"), to.with_suffix(to.suffix + ".json"))
    return to


def _refused(spec: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        make_target(spec, store=None)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_an_option_smuggled_into_the_path_writes_nothing(model, tmp_path, monkeypatch):
    # the attack: "x" is a real model, the file named after the whole string is junk; pasted
    # into VW's option string it read "-i x --readable_model leak.txt" and wrote leak.txt
    monkeypatch.chdir(tmp_path)
    _copy(model, Path("x"))
    crafted = "x --readable_model leak.txt"
    _copy(model, Path(crafted), b"anything at all\n")
    _refused(
        f"policy:{crafted}",
        f"target 'policy:{crafted}': {crafted} is not a Vowpal Wabbit model{FIX}",
    )
    assert not Path("leak.txt").exists()


@pytest.mark.parametrize(
    "body",
    [b"hello world\n", b"", b"\x07\x00\x00\x00abcdefg", b"\xff" * 64],
    ids=["text", "empty", "bad-version", "binary"],
)
def test_a_garbage_file_is_a_one_line_error(model, tmp_path, body):
    path = _copy(model, tmp_path / "garbage.vw", body)
    _refused(f"policy:{path}", f"target 'policy:{path}': {path} is not a Vowpal Wabbit model{FIX}")


def test_a_truncated_model_is_a_one_line_error(model, tmp_path):
    path = _copy(model, tmp_path / "cut.vw", model.read_bytes()[:60])
    with pytest.raises(InputError) as info:
        make_target(f"policy:{path}", store=None)
    message = str(info.value)
    assert re.fullmatch(
        rf"target 'policy:{re.escape(str(path))}': {re.escape(str(path))} does not load as a "
        rf"policy \([^\n]+\){re.escape(FIX)}",
        message,
    ), message


def test_a_folder_or_a_model_without_its_metadata_is_refused(model, tmp_path):
    _refused(f"policy:{tmp_path}", f"target 'policy:{tmp_path}': {tmp_path} is not a file{FIX}")
    bare = tmp_path / "bare.vw"
    shutil.copy(model, bare)
    meta = tmp_path / "bare.vw.json"
    message = f"target 'policy:{bare}': {meta} is missing or not a JSON object{FIX}"
    _refused(f"policy:{bare}", message)
    meta.write_text("[1, 2]")
    _refused(f"policy:{bare}", message)


@pytest.mark.parametrize("name", ["with space/policy.vw", "x --readable_model leak.txt"])
def test_a_real_model_at_a_path_with_spaces_loads_and_writes_nothing(
    model, tmp_path, monkeypatch, name
):
    monkeypatch.chdir(tmp_path)
    _copy(model, Path("x"))
    _copy(model, Path(name))
    target = make_target(f"policy:{name}", store=None)
    events = pd.DataFrame({"segment": ["a"], "context": [{}]})
    (dist,) = target.distributions(events, [("c1", "c2", "c3")])
    assert dist.shape == (3,) and np.isclose(dist.sum(), 1.0)
    del target  # VW writes a --readable_model file when the workspace is finished
    gc.collect()
    assert not Path("leak.txt").exists()
