"""Saving and loading scorers in formats that cannot run code.

A scorer is two files: ``NAME.npz`` (numeric arrays only, read with
``allow_pickle=False``) and ``NAME.json`` (names, settings and the SHA-256 of the ``.npz``).
Anything else (a pickle or joblib file, a ``.npz`` holding objects, a file whose digest does
not match) is refused with one line, before any of its bytes are interpreted as code.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from optimizer.errors import OptimizerError
from optimizer.filter.embed import Embedder
from optimizer.identity import file_digest
from optimizer.scorer.features import TextFeatures
from optimizer.scorer.level import LevelModel
from optimizer.scorer.model import CreativeScorer

FORMAT = "creative-optimizer scorer"
FORMAT_VERSION = 1
ARRAYS = ("w", "v", "mean", "scale", "level", "ref", "clicks", "impressions", "level_w")


class ScorerFileError(OptimizerError):
    """A scorer file that is not one this program wrote (or that was changed since)."""


def save_scorer(scorer: CreativeScorer, path: Path) -> Path:
    """Write ``path`` (``.npz``) and its ``.json`` beside it, each atomically; returns the
    ``.npz`` path."""
    if scorer.w is None:
        raise ValueError("the scorer is not fitted")
    path = Path(path).with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = list(scorer.groups)
    stats = np.array([scorer.groups[g] for g in groups], dtype=float).reshape(len(groups), 4)
    arrays = {
        "w": scorer.w,
        "v": scorer.v,
        "mean": scorer.features.mean,
        "scale": scorer.features.scale,
        "level": stats[:, 0],
        "ref": stats[:, 1],
        "clicks": stats[:, 2],
        "impressions": stats[:, 3],
        "level_w": scorer.level_model.w if scorer.level_model else np.zeros(0),
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, **{k: np.asarray(v, dtype=float) for k, v in arrays.items()})
    os.replace(tmp, path)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedder": scorer.embedder.model_id,
        "segments": scorer.segments,
        "interacting": scorer.interacting,
        "ctas": scorer.ctas,
        "style_scale": scorer.features.style_scale,
        "groups": [list(g) for g in groups],
        "temperature": scorer.temperature,
        "l2": scorer.l2,
        "copy_var": scorer.copy_var,
        "residual_var": scorer.residual_var,
        "level_var": scorer.level_var,
        "level_b": scorer.level_model.b if scorer.level_model else None,
        "sha256": file_digest(path),
    }
    json_path = path.with_suffix(".json")
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, json_path)
    return path


def _refuse(path: Path, why: str) -> ScorerFileError:
    return ScorerFileError(
        f"{path}: not a scorer file ({why}); scorers are read only from the .npz and .json "
        "that `scorer fit` writes (never from pickle or joblib files, which can run code); "
        "refit with `scorer fit`"
    )


def read_metadata(path: Path) -> dict:
    """The checked ``.json`` of a scorer ``.npz``."""
    json_path = path.with_suffix(".json")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _refuse(path, f"no {json_path.name} beside it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(path, f"{json_path.name} is not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(path, f"{json_path.name} does not describe a scorer")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(path, f"format version {meta.get('format_version')!r}, not {FORMAT_VERSION}")
    return meta


def load_scorer(path: Path, embedder: Embedder | None = None) -> CreativeScorer:
    """A scorer saved by :func:`save_scorer`; :class:`ScorerFileError` for anything else."""
    path = Path(path)
    if path.suffix != ".npz":
        raise _refuse(path, f"a {path.suffix or 'suffix-less'} file, not .npz")
    if not path.is_file():
        raise ScorerFileError(f"{path}: no such scorer file; refit with `scorer fit`")
    meta = read_metadata(path)
    if file_digest(path) != meta.get("sha256"):
        raise _refuse(path, "its SHA-256 differs from the one recorded when it was saved")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ARRAYS if k not in data.files]
            if missing:
                raise _refuse(path, f"no array {missing[0]!r} in it")
            arrays = {k: data[k] for k in ARRAYS}
    except ValueError:  # numpy refuses pickled data when allow_pickle=False
        raise _refuse(path, "it holds pickled objects, not plain arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError):
        raise _refuse(path, "not a numpy .npz archive") from None
    try:
        return _build(meta, arrays, embedder)
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(path, f"inconsistent contents: {exc}") from None


def _build(meta: dict, a: dict[str, np.ndarray], embedder: Embedder | None) -> CreativeScorer:
    if any(v.dtype.kind != "f" for v in a.values()):
        raise ValueError("arrays must be floating point")
    groups = [tuple(str(x) for x in g) for g in meta["groups"]]
    if len(groups) != len(a["level"]) or any(len(g) != 2 for g in groups):
        raise ValueError("groups and levels differ in number")
    embedder = embedder or Embedder.shared(str(meta["embedder"]))
    scorer = CreativeScorer(embedder, [str(s) for s in meta["segments"]], l2=float(meta["l2"]))
    scorer.features = TextFeatures(
        embedder, [str(c) for c in meta["ctas"]], a["mean"], a["scale"], float(meta["style_scale"])
    )
    scorer.interacting = [str(s) for s in meta["interacting"]]
    width = 2 * embedder.dim + len(a["mean"])
    if a["w"].shape != (width,) or a["v"].shape != (len(scorer.interacting), width):
        raise ValueError(f"weights of shape {a['w'].shape} for {width} features")
    scorer.w, scorer.v = a["w"], a["v"]
    scorer.temperature = float(meta["temperature"])
    scorer.copy_var = float(meta["copy_var"])
    scorer.residual_var = float(meta["residual_var"])
    scorer.level_var = float(meta["level_var"])
    if meta["level_b"] is not None:
        if a["level_w"].shape != (width,):
            raise ValueError(f"level weights of shape {a['level_w'].shape} for {width} features")
        scorer.level_model = LevelModel(a["level_w"], float(meta["level_b"]), scorer.level_var)
    scorer.groups = {
        g: (float(lv), float(r), float(k), float(m))
        for g, lv, r, k, m in zip(
            groups, a["level"], a["ref"], a["clicks"], a["impressions"], strict=True
        )
    }
    return scorer
