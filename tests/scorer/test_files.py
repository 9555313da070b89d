"""Scorer files cannot run code: anything but the .npz + .json that `scorer fit` writes is
refused with one line, before a byte of it is unpickled (issue 9)."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from optimizer.errors import OptimizerError
from optimizer.refresh.scorer import latest_scorer
from optimizer.store import Store
from optimizer.store.models import PolicyRow


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Payload:
    """Unpickling this creates ``marker``: what a crafted model file could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def register(tmp_path, path) -> Store:
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.save_policy(
        PolicyRow(version="scorer-evil", campaign="c", kind="scorer", path=str(path), source="x")
    )
    return store


def test_a_crafted_pickle_registered_as_the_scorer_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "scorer-evil.joblib"
    evil.write_bytes(pickle.dumps(Payload(str(marker))))
    store = register(tmp_path, evil)
    with pytest.raises(OptimizerError, match=r"scorer-evil\.joblib: not a scorer file"):
        latest_scorer(store, "c")
    with pytest.raises(OptimizerError, match="never from pickle or joblib files"):
        latest_scorer(store, "c", "scorer-evil")
    assert not marker.exists()


def test_a_pickle_named_npz_with_a_matching_json_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "scorer-evil.npz"
    evil.write_bytes(pickle.dumps(Payload(str(marker))))
    meta = {"format": "creative-optimizer scorer", "format_version": 1}
    evil.with_suffix(".json").write_text(json.dumps({**meta, "sha256": digest(evil)}))
    with pytest.raises(OptimizerError, match="it holds pickled objects, not plain arrays"):
        latest_scorer(register(tmp_path, evil), "c")
    assert not marker.exists()


def test_an_npz_holding_objects_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "scorer-evil.npz"
    arrays = {k: np.zeros(2) for k in ("v", "mean", "scale", "level", "ref", "clicks", "level_w")}
    np.savez(evil, w=np.array([Payload(str(marker))], dtype=object), impressions=[1.0], **arrays)
    meta = {"format": "creative-optimizer scorer", "format_version": 1}
    evil.with_suffix(".json").write_text(json.dumps({**meta, "sha256": digest(evil)}))
    with pytest.raises(OptimizerError, match="it holds pickled objects, not plain arrays"):
        latest_scorer(register(tmp_path, evil), "c")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("json_text", "pattern"),
    [
        (None, r"no scorer-evil\.json beside it"),
        ("{", r"scorer-evil\.json is not JSON"),
        ('{"format": "other"}', r"scorer-evil\.json does not describe a scorer"),
        (
            '{"format": "creative-optimizer scorer", "format_version": 1, "sha256": "0"}',
            "its SHA-256 differs from the one recorded when it was saved",
        ),
    ],
)
def test_a_scorer_without_its_checked_metadata_is_refused(tmp_path, json_text, pattern):
    path = tmp_path / "scorer-evil.npz"
    np.savez(path, w=np.zeros(3))
    if json_text is not None:
        path.with_suffix(".json").write_text(json_text)
    with pytest.raises(OptimizerError, match=pattern) as err:
        latest_scorer(register(tmp_path, path), "c")
    assert "\n" not in str(err.value)
