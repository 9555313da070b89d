"""Target policies to evaluate offline, and the reward model of the direct method.

A target gives, for each logged event, the distribution over that event's candidates.
Events without a logged candidate list use the campaign's action set: every action seen in
its logs.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import InputError
from optimizer.records import Context, Creative


def candidate_lists(events: pd.DataFrame) -> list[tuple[str, ...]]:
    everything = tuple(sorted(set(events["chosen"])))
    return [tuple(c) if c else everything for c in events["candidates"]]


class UniformTarget:
    name = "uniform"

    def distributions(
        self, events: pd.DataFrame, cands: Sequence[tuple[str, ...]]
    ) -> list[np.ndarray]:
        shared: dict[int, np.ndarray] = {}
        return [shared.setdefault(len(c), np.full(len(c), 1.0 / len(c))) for c in cands]


class StaticTarget:
    """Fixed action probabilities, global or per segment, from CSV or JSON.

    CSV: ``action,probability`` and an optional ``segment`` column. JSON: ``{action: p}``,
    or ``{"global": {...}, "segments": {segment: {...}}}``. Probabilities are restricted to
    each event's candidates and renormalised; an event where none of its candidates is listed
    is served uniformly and counted in ``uncovered``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"static:{path}"
        self.global_p: dict[str, float] = {}
        self.segment_p: dict[str, dict[str, float]] = {}
        self.uncovered = 0
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file; check the path")
        if self.path.suffix.lower() == ".json":
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{self.path}: line {exc.lineno}: invalid JSON: {exc.msg}"
                ) from None
            if not isinstance(data, dict):
                raise InputError(f"{self.path}: expected an object of action probabilities")
            if "global" in data or "segments" in data:
                self.global_p = self._check(data.get("global", {}), "global")
                self.segment_p = {
                    s: self._check(v, f"segments.{s}") for s, v in data.get("segments", {}).items()
                }
            else:
                self.global_p = self._check(data, "(top level)")
            return
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            if not {"action", "probability"} <= set(reader.fieldnames or []):
                raise InputError(
                    f"{self.path}: line 1: the header needs action,probability and may add segment"
                )
            for row in reader:
                try:
                    p = float(row["probability"])
                except ValueError:
                    raise InputError(
                        f"{self.path}: line {reader.line_num}: probability "
                        f"{row['probability']!r} is not a number"
                    ) from None
                if p < 0:
                    raise InputError(
                        f"{self.path}: line {reader.line_num}: probability must be >= 0"
                    )
                seg = (row.get("segment") or "").strip()
                (self.segment_p.setdefault(seg, {}) if seg else self.global_p)[
                    row["action"].strip()
                ] = p

    def _check(self, table: object, where: str) -> dict[str, float]:
        if not isinstance(table, dict):
            raise InputError(f"{self.path}: {where}: expected an object of action probabilities")
        out = {}
        for action, p in table.items():
            if not isinstance(p, int | float) or p < 0:
                raise InputError(
                    f"{self.path}: {where}.{action}: probability must be a number >= 0"
                )
            out[str(action)] = float(p)
        return out

    def distributions(
        self, events: pd.DataFrame, cands: Sequence[tuple[str, ...]]
    ) -> list[np.ndarray]:
        out, self.uncovered = [], 0
        shared: dict[tuple, tuple[np.ndarray, bool]] = {}
        for segment, c in zip(events["segment"], cands, strict=True):
            key = (segment, c)
            hit = shared.get(key)
            if hit is None:
                table = self.segment_p.get(segment or "", self.global_p)
                p = np.array([table.get(a, 0.0) for a in c])
                covered = p.sum() > 0
                hit = shared[key] = (
                    p / p.sum() if covered else np.full(len(c), 1 / len(c)),
                    covered,
                )
            self.uncovered += not hit[1]
            out.append(hit[0])
        return out


class StoredPolicyTarget:
    """A saved VW policy (from ``learn`` or ``run``).

    Actions carry their ids, plus the text features of ``creatives`` when the policy was
    trained with them (a ``run`` with the filter stage on). ``path`` must pass
    :func:`check_model_file`; VW's own loading errors become the same one-line error."""

    def __init__(self, path: str | Path, name: str, creatives: Sequence[Creative] = ()) -> None:
        from optimizer.allocate.vw import VWPolicy

        self.name = name
        self.known = {c.id: c for c in creatives}
        check_model_file(Path(path), name)
        try:
            self.policy = VWPolicy.load(Path(path))
        except (InputError, OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _not_a_model(name, f"{path} does not load as a policy ({reason})") from None

    def distributions(
        self, events: pd.DataFrame, cands: Sequence[tuple[str, ...]]
    ) -> list[np.ndarray]:
        out = []
        cache: dict[tuple[str, ...], list[Creative]] = {}
        for segment, context, c in zip(events["segment"], events["context"], cands, strict=True):
            creatives = cache.get(c)
            if creatives is None:
                creatives = cache[c] = [
                    self.known.get(a) or Creative(id=a, campaign="", headline=a, body="", cta="")
                    for a in c
                ]
            ctx = Context(segment=segment or "", features=context or {})
            out.append(np.asarray(self.policy.distribution(ctx, creatives)))
        return out


# A VW model file starts with a 4-byte little-endian length and VW's version, e.g. "9.11.9\0".
_VW_VERSION = re.compile(rb"\d+\.\d+\.\d+\x00")


def _not_a_model(target: str, what: str) -> InputError:
    return InputError(
        f"target {target!r}: {what}; give a stored policy version or the path of a model "
        "file saved by learn or run (with its .json beside it)"
    )


def check_model_file(path: Path, target: str) -> None:
    """Refuse, with a one-line :class:`InputError`, anything but a regular file that starts
    like a Vowpal Wabbit model and has the ``.json`` metadata ``save`` writes beside it."""
    if not path.is_file():
        raise _not_a_model(target, f"{path} is not a file")
    with path.open("rb") as f:
        head = f.read(36)
    size = int.from_bytes(head[:4], "little") if len(head) >= 4 else 0
    if not (2 <= size <= 32 and _VW_VERSION.fullmatch(head[4 : 4 + size])):
        raise _not_a_model(target, f"{path} is not a Vowpal Wabbit model")
    meta = path.with_suffix(path.suffix + ".json")
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise _not_a_model(target, f"{meta} is missing or not a JSON object")


def make_target(spec: str, store) -> UniformTarget | StaticTarget | StoredPolicyTarget:
    """``uniform``, ``static:FILE``, ``policy:VERSION`` (stored) or ``policy:PATH``."""
    if spec == "uniform":
        return UniformTarget()
    kind, _, value = spec.partition(":")
    if kind == "static" and value:
        return StaticTarget(value)
    if kind == "policy" and value:
        return _policy_target(value, spec, store)
    raise InputError(
        f"target {spec!r}: use uniform, static:FILE (CSV or JSON of action "
        "probabilities) or policy:VERSION|PATH"
    )


def _policy_target(value: str, spec: str, store) -> StoredPolicyTarget:
    """A model file at ``value``, else the stored version ``value`` (with the text features
    of the campaign's active creatives when it was trained with them)."""
    path = Path(value)
    creatives: list[Creative] = []
    if not path.exists():
        row = store.policy(value)
        path = Path(row.path)
        if row.metrics.get("text_features"):
            from optimizer.filter.embed import Embedder
            from optimizer.filter.features import with_text_features

            creatives = with_text_features(store.active_creatives(row.campaign), Embedder.shared())
    return StoredPolicyTarget(path, spec, creatives)


class RewardModel:
    """q(x, a) for the direct method: the mean reward of action ``a`` in the event's segment,
    shrunk with ``strength`` pseudo-events towards an additive prior ``segment mean + action
    mean - global mean`` (each of those shrunk towards the global mean). Fitted on the data
    it is given."""

    def __init__(self, strength: float = 10.0) -> None:
        self.strength = strength

    def fit(self, events: pd.DataFrame) -> RewardModel:
        k = self.strength
        data = events.assign(r=events["reward"].astype(float), s=events["segment"].fillna(""))
        self.mean = float(data["r"].mean()) if len(data) else 0.0

        def shrunk(keys) -> dict:
            g = data.groupby(keys)["r"].agg(["sum", "count"])
            return ((g["sum"] + k * self.mean) / (g["count"] + k)).to_dict()

        self.action, self.segment = shrunk("chosen"), shrunk("s")
        cells = data.groupby(["s", "chosen"])["r"].agg(["sum", "count"])
        self.cell = {}
        for (seg, a), row in cells.iterrows():
            prior = min(max(self.segment[seg] + self.action[a] - self.mean, 0.0), 1.0)
            self.cell[(seg, a)] = (row["sum"] + k * prior) / (row["count"] + k)
        return self

    def predict(self, segment: str | None, actions: Sequence[str]) -> np.ndarray:
        s = segment or ""
        base = self.segment.get(s, self.mean) - self.mean
        return np.array(
            [
                self.cell.get((s, a), min(max(self.action.get(a, self.mean) + base, 0.0), 1.0))
                for a in actions
            ]
        )
