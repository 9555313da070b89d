"""Keep a new generator version only if its raw candidates beat its parent's.

Both versions write ``n`` answers per segment and prompt on the same prompts with the same
seeds (the few-shot examples, calls to action and sampling seeds are drawn from copies of
one generator), and a judge passed in by the caller scores every parsed candidate: the
scorer's calibrated CTR predictions in the optimizer, the simulator's true CTR in the
benchmark. Candidates that repeat a known creative (``known``: its headline and body) are
copies, not new copy: they are counted, and left out of the means.

The child is kept when the mean judged CTR of its new candidates is above the parent's by
more than ``min_gain`` (relative), else the parent is served again, bit for bit
(:func:`optimizer.refresh.lora.restore`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.lora import Snapshot, restore

# (segment, creatives) -> a CTR per creative, in order
Judge = Callable[[str, Sequence[Creative]], Sequence[float]]


@dataclass(frozen=True)
class Side:
    """One version's raw candidates on the comparison's prompts."""

    version: str
    requests: int
    parsed: int
    copies: int  # parsed, but a known creative's headline and body
    mean: float  # mean judged CTR of the parsed, new candidates (0.0 when none)
    per_segment: dict[str, float]


@dataclass(frozen=True)
class GeneratorComparison:
    parent: Side
    child: Side
    keep: bool
    reason: str

    @property
    def ratio(self) -> float:
        return self.child.mean / self.parent.mean if self.parent.mean > 0 else float("inf")

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": round(self.ratio, 4)}


def text_key(headline: str, body: str) -> tuple[str, str]:
    return (" ".join(headline.lower().split()), " ".join(body.lower().split()))


def raw_side(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.Backend
    judge: Judge,
    segments: Sequence[str],
    n: int,
    rng: np.random.Generator,
    known: Collection[tuple[str, str]] = (),
) -> tuple[Side, list]:
    """The backend's current version's ``n`` raw candidates per segment and prompt, judged
    (see the module doc); returns the summary and the candidates."""
    from optimizer.generate.pipeline import generate_candidates

    made = generate_candidates(cfg, backend, rng, list(segments), n)
    known = set(known)
    parsed = [m for m in made if m.creative is not None]
    new = [m for m in parsed if text_key(m.creative.headline, m.creative.body) not in known]
    per_segment, values = {}, []
    for segment in segments:
        mine = [m.creative for m in new if m.segment == segment]
        if mine:
            scores = [float(x) for x in judge(segment, mine)]
            per_segment[segment] = round(float(np.mean(scores)), 6)
            values += scores
    side = Side(
        version=backend.info.version,
        requests=len(made),
        parsed=len(parsed),
        copies=len(parsed) - len(new),
        mean=round(float(np.mean(values)), 6) if values else 0.0,
        per_segment=per_segment,
    )
    return side, made


def compare_generators(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.TransformersBackend
    parent: Snapshot,
    child: Snapshot,
    judge: Judge,
    rng: np.random.Generator,
    n: int = 4,
    segments: Sequence[str] | None = None,
    known: Collection[tuple[str, str]] = (),
    min_gain: float = 0.0,
) -> GeneratorComparison:
    """Parent and child on the same prompts and seeds; afterwards the backend serves the
    child when it is kept, else the parent (exactly). ``rng`` is drawn from once (the
    comparison's own stream); ``known``: ``text_key``s of creatives that do not count as
    new."""
    segments = list(segments) if segments else [s.name for s in cfg.segments]
    stream = rng.spawn(1)[0]
    restore(backend, child)
    child_side, _ = raw_side(cfg, backend, judge, segments, n, copy.deepcopy(stream), known)
    restore(backend, parent)
    parent_side, _ = raw_side(cfg, backend, judge, segments, n, copy.deepcopy(stream), known)
    keep, reason = decide(parent_side, child_side, min_gain)
    if keep:
        restore(backend, child)
    return GeneratorComparison(parent_side, child_side, keep, reason)


def decide(parent: Side, child: Side, min_gain: float = 0.0) -> tuple[bool, str]:
    """Keep the child when its new candidates' mean judged CTR beats the parent's by more
    than ``min_gain`` (relative); the reason says why, with the figures."""
    if child.parsed - child.copies == 0:
        return False, "the child wrote no new parsed candidate"
    bar = parent.mean * (1 + min_gain)
    figures = f"child {child.mean:.5f} vs parent {parent.mean:.5f}"
    if child.mean > bar:
        return True, f"{figures}: the child's raw candidates are better"
    return False, f"{figures}: not better than the parent (bar {bar:.5f}); reverted"
