"""Recombination of assets: new creatives assembled from the headlines, bodies and calls to
action of a segment's best creatives, as responsive search ads and dynamic creative do.
No LLM: every asset already passed the filters, and the candidate is screened again as a
whole (length, duplicates, claims, readability).

The parents are the segment's top ``PARENTS`` creatives by one draw from each posterior
(:class:`~optimizer.refresh.operators.Parents`), so a creative with little data but a
promising posterior gets its chance. Candidates pair one parent's headline with another's
body and any allowed call to action; a pair whose headline and body already run together
anywhere is skipped (the filters would call it a duplicate: the call to action is not part
of the text they compare), and so is one that was active before (retired creatives do not
come back). ``n`` of them are drawn without replacement, pairs of higher-ranked
parents more often: the weight of headline parent ``i`` and body parent ``j`` (0 = best) is
``1 / (1 + i + j)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimizer.records import Creative, creative_id
from optimizer.refresh.operators import Parents, with_lineage

PARENTS = 4
OPERATOR = "recombine"


def _key(headline: str, body: str) -> tuple[str, str]:
    return (" ".join(headline.lower().split()), " ".join(body.lower().split()))


def assemblies(
    campaign: str, parents: Parents, ctas: Sequence[str]
) -> list[tuple[int, Creative, Creative, str]]:
    """Every new (weight rank ``i + j``, headline parent, body parent, call to action)."""
    top = parents.ranked[:PARENTS]
    taken = {_key(c.headline, c.body) for c in parents.live}
    out = []
    for i, head in enumerate(top):
        for j, body in enumerate(top):
            if i == j or not body.body or _key(head.headline, body.body) in taken:
                continue
            out += [
                (i + j, head, body, cta)
                for cta in ctas
                if creative_id(campaign, head.headline, body.body, cta) not in parents.seen
            ]
    return out


def recombine(
    campaign: str,
    parents: Parents,
    ctas: Sequence[str],
    n: int,
    k: int,
    rng: np.random.Generator,
) -> list[Creative]:
    """Up to ``n`` new creatives for ``parents.segment`` in round ``k`` (see the module
    docstring), with their lineage."""
    pool = assemblies(campaign, parents, ctas)
    if not pool or n <= 0:
        return []
    weights = np.array([1.0 / (1 + rank) for rank, *_ in pool])
    take = min(n, len(pool))
    chosen = rng.choice(len(pool), size=take, replace=False, p=weights / weights.sum())
    out = []
    for idx in sorted(int(i) for i in chosen):
        _, head, body, cta = pool[idx]
        c = Creative.from_text(
            campaign,
            head.headline,
            body.body,
            cta,
            segment=parents.segment,
            lineage={"assets": {"headline": head.id, "body": body.id, "cta": cta}},
        )
        out.append(with_lineage(c, OPERATOR, OPERATOR, [head, body], k, "recombined"))
    return out
