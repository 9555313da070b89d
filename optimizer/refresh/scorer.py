"""The creative scorer: predicts a creative's click-through rate in a segment from its text.

Features: the sentence embedding, its copy gated by the segment (so each segment can like
different things), length, has-a-number and the call to action. Model: a logistic
regression fitted on impressions and clicks per (segment, creative), from the store's
decisions and rewards or from aggregated performance reports. Used to rank new candidates.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.filter.embed import Embedder


@dataclass(frozen=True)
class Outcome:
    segment: str
    headline: str
    body: str
    cta: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


class CreativeScorer:
    def __init__(
        self, embedder: Embedder, segments: Sequence[str] = (), ctas: Sequence[str] = ()
    ) -> None:
        self.embedder = embedder
        self.segments = list(segments)
        self.ctas = list(ctas)
        self.model = None

    def _features(self, segment: str, texts: Sequence[tuple[str, str, str]]) -> np.ndarray:
        emb = self.embedder.encode([f"{h}. {b}".strip() for h, b, _ in texts])
        n = len(texts)
        gate = np.zeros((n, emb.shape[1] * len(self.segments)))
        if segment in self.segments:
            k = self.segments.index(segment)
            gate[:, k * emb.shape[1] : (k + 1) * emb.shape[1]] = emb
        simple = np.array(
            [
                [
                    len(f"{h} {b}") / 100.0,
                    1.0 if re.search(r"\d", f"{h} {b}") else 0.0,
                    *[1.0 if c == x else 0.0 for x in self.ctas],
                ]
                for h, b, c in texts
            ]
        ).reshape(n, -1)
        return np.hstack([emb, gate, simple])

    def fit(self, outcomes: Sequence[Outcome]) -> CreativeScorer:
        from sklearn.linear_model import LogisticRegression

        if not outcomes:
            raise ValueError("no outcomes to fit the scorer on")
        self.segments = self.segments or sorted({o.segment for o in outcomes})
        self.ctas = self.ctas or sorted({o.cta for o in outcomes})
        xs, ys, ws = [], [], []
        for segment, group in itertools.groupby(
            sorted(outcomes, key=lambda o: o.segment), key=lambda o: o.segment
        ):
            rows = list(group)
            x = self._features(segment, [(o.headline, o.body, o.cta) for o in rows])
            for xi, o in zip(x, rows, strict=True):
                xs += [xi, xi]
                ys += [1, 0]
                ws += [o.clicks, o.impressions - o.clicks]
        self.model = LogisticRegression(C=1.0, max_iter=3000)
        self.model.fit(np.array(xs), np.array(ys), sample_weight=np.array(ws, dtype=float))
        return self

    def predict(self, segment: str, texts: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """Predicted CTR of each (headline, body, cta) in ``segment``, shape ``(n,)``."""
        if self.model is None:
            raise ValueError("the scorer is not fitted")
        if not texts:
            return np.zeros(0)
        return self.model.predict_proba(self._features(segment, texts))[:, 1]

    def save(self, path: Path) -> None:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "model": self.model,
                "segments": self.segments,
                "ctas": self.ctas,
                "embedder": self.embedder.model_id,
            },
            path,
        )

    @classmethod
    def load(cls, path: Path, embedder: Embedder | None = None) -> CreativeScorer:
        import joblib

        data = joblib.load(path)
        scorer = cls(embedder or Embedder.shared(data["embedder"]), data["segments"], data["ctas"])
        scorer.model = data["model"]
        return scorer


def admit(
    scorer: CreativeScorer,
    segment: str,
    candidates: Sequence[tuple[str, str, str]],
    active: Sequence[tuple[str, str, str]],
) -> list[int]:
    """Indices of the candidates (headline, body, CTA) predicted to beat the segment's
    ``active`` creatives on average, best first: a replacement must not dilute the pool."""
    if not candidates:
        return []
    pred = scorer.predict(segment, candidates)
    bar = float(np.mean(scorer.predict(segment, active))) if active else -np.inf
    return [int(i) for i in np.argsort(-pred, kind="stable") if pred[i] >= bar]


def pairwise_accuracy(scorer: CreativeScorer, outcomes: Sequence[Outcome]) -> float:
    """Share of pairs of creatives in the same segment whose CTR order the scorer gets right
    (pairs with equal observed CTR are skipped)."""
    right = total = 0
    by_segment: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_segment.setdefault(o.segment, []).append(o)
    for segment, rows in by_segment.items():
        pred = scorer.predict(segment, [(o.headline, o.body, o.cta) for o in rows])
        for i, j in itertools.combinations(range(len(rows)), 2):
            if rows[i].ctr == rows[j].ctr:
                continue
            total += 1
            right += (pred[i] > pred[j]) == (rows[i].ctr > rows[j].ctr)
    return right / total if total else float("nan")


def outcomes_from_store(store, campaign: str) -> list[Outcome]:
    """Impressions and clicks per (segment, creative) from stored decisions and rewards,
    plus the aggregated performance reports (with their text when they carry it)."""
    texts = {c.id: c for c in store.creatives(campaign)}
    out = []
    for (segment, cid), (n, clicks) in store.segment_creative_stats(campaign).items():
        c = texts.get(cid)
        if c is not None and n > 0:
            out.append(Outcome(segment, c.headline, c.body, c.cta, n, int(clicks)))
    for r in store.reports(campaign):
        c = texts.get(r.creative_id)
        headline = r.headline or (c.headline if c else "")
        if headline and r.impressions > 0:
            out.append(
                Outcome(
                    r.segment,
                    headline,
                    r.body or (c.body if c else ""),
                    c.cta if c else "",
                    r.impressions,
                    r.clicks,
                )
            )
    return out


def fit_and_register(
    store, campaign: str, state_dir: Path, test_share: float = 0.3, seed: int = 0
) -> dict:
    """Fit the scorer on the store's outcomes, report its held-out pairwise accuracy
    (creatives split at random), refit on everything, save and register it."""
    from datetime import UTC, datetime

    from optimizer.errors import OptimizerError
    from optimizer.identity import run_key
    from optimizer.store.models import PolicyRow

    outcomes = outcomes_from_store(store, campaign)
    if len(outcomes) < 4:
        raise OptimizerError(
            f"campaign {campaign!r} has {len(outcomes)} creatives with "
            "impressions; run or ingest more before fitting the scorer"
        )
    embedder = Embedder.shared()
    rng = np.random.default_rng(seed)
    ids = sorted({(o.headline, o.body) for o in outcomes})
    test_ids = {ids[i] for i in rng.permutation(len(ids))[: max(1, int(len(ids) * test_share))]}
    train = [o for o in outcomes if (o.headline, o.body) not in test_ids]
    test = [o for o in outcomes if (o.headline, o.body) in test_ids]
    accuracy = (
        pairwise_accuracy(CreativeScorer(embedder).fit(train), test)
        if train and test
        else float("nan")
    )
    scorer = CreativeScorer(embedder).fit(outcomes)
    data = [(o.segment, o.headline, o.impressions, o.clicks) for o in outcomes]
    version = f"scorer-{run_key(campaign, data)}"
    path = Path(state_dir) / campaign / "scorers" / f"{version}.joblib"
    scorer.save(path)
    metrics = {
        "outcomes": len(outcomes),
        "held_out_pairwise_accuracy": round(accuracy, 4),
        "test_share": test_share,
    }
    store.save_policy(
        PolicyRow(
            version=version,
            campaign=campaign,
            kind="scorer",
            path=str(path),
            source="store",
            events=int(sum(o.impressions for o in outcomes)),
            metrics=metrics,
            created_at=datetime.now(UTC),
        )
    )
    return {"version": version, "path": str(path), **metrics}


def latest_scorer(store, campaign: str, version: str | None = None) -> CreativeScorer:
    from optimizer.errors import OptimizerError

    if version is not None:
        return CreativeScorer.load(Path(store.policy(version).path))
    rows = [p for p in store.policies(campaign) if p.kind == "scorer"]
    if not rows:
        raise OptimizerError(f"no scorer for campaign {campaign!r}; run `scorer fit` first")
    return CreativeScorer.load(Path(rows[-1].path))
