"""The filter stage: every creative gets a verdict with every reason and score.

Order: format and ad-policy rules, unsupported claims and readability (no model), profanity,
the policy classifier, relevance to the product and brief, near-duplicates against the live
pool and the candidates kept so far, then maximal marginal relevance (MMR) keeps the best
``keep_per_segment`` generated candidates per segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.filter.checks import format_checks, policy_rules
from optimizer.filter.claims import Facts, claim_checks
from optimizer.filter.classifier import PolicyClassifier
from optimizer.filter.embed import Embedder, creative_text
from optimizer.filter.profanity import profanity_scores
from optimizer.filter.readability import ProductWords, readability_checks
from optimizer.filter.verdict import Rejection, Verdict
from optimizer.records import Creative


@dataclass
class Screener:
    """Holds the models of the filter stage; build once, screen many times."""

    cfg: CampaignConfig
    embedder: Embedder
    classifier: PolicyClassifier
    facts: Facts | None = None  # what the campaign supports; from the config when None

    def __post_init__(self) -> None:
        if self.facts is None:
            self.facts = Facts.of_campaign(self.cfg)
        self.product = ProductWords.of(self.cfg.product)

    @classmethod
    def build(cls, cfg: CampaignConfig, embedder: Embedder | None = None) -> Screener:
        embedder = embedder or Embedder.shared()
        return cls(cfg, embedder, PolicyClassifier.default(embedder))

    def rules(self, creative: Creative) -> list[Rejection]:
        """The checks that need no model: format, ad policy, claims, readability."""
        return (
            format_checks(creative, self.cfg)
            + policy_rules(creative, self.cfg.filters)
            + claim_checks(creative, self.facts)
            + readability_checks(creative, self.product)
        )

    def anchors(self) -> np.ndarray:
        cfg = self.cfg
        return self.embedder.encode([f"{cfg.product}. {cfg.brief}", cfg.product])

    def screen(
        self,
        creatives: Sequence[Creative],
        pool: Sequence[Creative] = (),
        select: bool = True,
    ) -> list[Verdict]:
        """Verdicts in the order of ``creatives``.

        ``pool``: live creatives a new one must not duplicate. ``select``: apply the
        per-segment MMR selection to creatives that belong to a segment.
        """
        f = self.cfg.filters
        texts = [creative_text(c) for c in creatives]
        rejections: list[list[Rejection]] = [self.rules(c) for c in creatives]
        scores: list[dict[str, float]] = [{} for _ in creatives]
        profane = profanity_scores(texts)
        policy = self.classifier.scores(texts)
        emb = self.embedder.encode(texts)
        relevance = (emb @ self.anchors().T).max(axis=1) if len(texts) else np.zeros(0)
        for i in range(len(creatives)):
            scores[i].update(
                profanity=float(profane[i]), policy=float(policy[i]), relevance=float(relevance[i])
            )
            if profane[i] > f.profanity_max:
                rejections[i].append(Rejection("safety", "profanity or insult", float(profane[i])))
            if policy[i] > f.policy_max:
                rejections[i].append(
                    Rejection(
                        "policy", "policy classifier: likely violates ad policy", float(policy[i])
                    )
                )
            if relevance[i] < f.relevance_min:
                rejections[i].append(
                    Rejection(
                        "relevance",
                        f"off-brief (cosine {relevance[i]:.2f} < {f.relevance_min})",
                        float(relevance[i]),
                    )
                )
        self._dedupe(creatives, emb, pool, rejections, scores)
        if select:
            self._select(creatives, emb, relevance, rejections)
        return [
            Verdict(c, tuple(r), s) for c, r, s in zip(creatives, rejections, scores, strict=True)
        ]

    def _dedupe(self, creatives, emb, pool, rejections, scores) -> None:
        """Near-duplicates: against the live pool, then against earlier kept candidates
        (seed creatives first, then by relevance)."""
        f = self.cfg.filters
        kept_ids: list[str] = [c.id for c in pool]
        kept_vecs: list[np.ndarray] = list(self.embedder.encode([creative_text(c) for c in pool]))
        order = sorted(
            range(len(creatives)),
            key=lambda i: (creatives[i].source != "seed", -scores[i]["relevance"]),
        )
        for i in order:
            if kept_vecs:
                sims = np.stack(kept_vecs) @ emb[i]
                j = int(np.argmax(sims))
                scores[i]["max_similarity"] = float(sims[j])
                if sims[j] >= f.duplicate_max:
                    rejections[i].append(
                        Rejection(
                            "duplicate",
                            f"near-duplicate of {kept_ids[j]} (cosine {sims[j]:.2f})",
                            float(sims[j]),
                        )
                    )
            if not rejections[i]:
                kept_ids.append(creatives[i].id)
                kept_vecs.append(emb[i])

    def _select(self, creatives, emb, relevance, rejections) -> None:
        """MMR per segment: argmax of lam * relevance - (1 - lam) * max similarity to chosen."""
        f = self.cfg.filters
        lam = f.mmr_lambda
        by_segment: dict[str, list[int]] = {}
        for i, c in enumerate(creatives):
            if c.segment is not None and not rejections[i]:
                by_segment.setdefault(c.segment, []).append(i)
        for segment, idx in by_segment.items():
            chosen: list[int] = []
            left = list(idx)
            while left and len(chosen) < f.keep_per_segment:
                sims = [max((float(emb[i] @ emb[j]) for j in chosen), default=0.0) for i in left]
                gains = [
                    lam * float(relevance[i]) - (1 - lam) * sim
                    for i, sim in zip(left, sims, strict=True)
                ]
                chosen.append(left.pop(int(np.argmax(gains))))
            for i in left:
                rejections[i].append(
                    Rejection(
                        "diversity",
                        f"not among the {f.keep_per_segment} kept for segment "
                        f"{segment} (maximal marginal relevance)",
                    )
                )
