"""Text-derived features the bandit sees for each creative.

A fixed random projection of the sentence embedding to a few dimensions (so similar texts
get similar features and a new creative does not start from nothing), its length, whether
it has a number, and its call to action. These differ on purpose from the simulator's hidden
keyword reader. The VW policy crosses them with the segment and the user's features
(``optimizer.allocate.vw``). Measured for issue 13 against a 16-dimensional projection and
8 or 16 principal components of the embeddings of ``data/policy_labels.csv``: none earned
more clicks on the example campaign (seeds 7, 8, 9), so the 8-dimensional projection stays.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from optimizer.filter.embed import Embedder, creative_text
from optimizer.records import Creative

PROJECTION_DIM = 8
PROJECTION_SEED = 20_260_101  # fixed: the same text always gets the same features


def projection(dim_in: int, dim_out: int = PROJECTION_DIM) -> np.ndarray:
    rng = np.random.default_rng(PROJECTION_SEED)
    return rng.normal(0.0, 1.0, size=(dim_in, dim_out)) / np.sqrt(dim_out)


def with_text_features(creatives: Sequence[Creative], embedder: Embedder) -> list[Creative]:
    if not creatives:
        return []
    emb = embedder.encode([creative_text(c) for c in creatives])
    z = emb @ projection(emb.shape[1])
    out = []
    for c, row in zip(creatives, z, strict=True):
        text = f"{c.headline} {c.body}"
        feats = {f"e{k}": round(float(v), 4) for k, v in enumerate(row)}
        feats["len"] = round(len(text) / 100.0, 3)
        feats["num"] = 1.0 if re.search(r"\d", text) else 0.0
        if c.cta:
            feats["cta_" + re.sub(r"\W+", "_", c.cta.lower()).strip("_")] = 1.0
        out.append(dataclasses.replace(c, features=feats))
    return out
