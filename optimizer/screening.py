"""Steps 1-2 of the loop as one call: generate candidates, then screen them.

Used by the campaign loop (initial pool), the ``generate`` command (new candidates against
the live pool) and the ``screen`` command (creatives written by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.filter.verdict import Rejection, Verdict
from optimizer.records import Creative

ProgressFactory = Callable[[str, int], Callable[[int], None]]


def generate_and_screen(
    cfg: CampaignConfig,
    rng: np.random.Generator,
    store=None,  # optimizer.store.Store | None
    batch: str = "",
    segments: Sequence[str] | None = None,
    n: int | None = None,
    seeds: Sequence[Creative] = (),
    pool: Sequence[Creative] = (),
    generate: bool = True,
    progress: ProgressFactory | None = None,
) -> tuple[list[Creative], list[Verdict]]:
    """Kept creatives (with text features for the bandit) and every verdict.

    ``seeds`` are screened with the generated candidates (seed creatives of the config);
    ``pool`` holds live creatives that new ones must not duplicate.
    """
    creatives = list(seeds)
    failures: list[Verdict] = []
    if generate and cfg.prompts:
        from optimizer.generate.pipeline import generate_candidates, make_backend

        names = list(segments) if segments else [s.name for s in cfg.segments]
        total = len(names) * len(cfg.prompts) * (n or cfg.generation.n_per_prompt)
        bar = progress("generating", total) if progress else None
        candidates = generate_candidates(cfg, make_backend(cfg), rng, names, n, bar)
        creatives += [c.creative for c in candidates if c.creative is not None]
        failures = [
            Verdict(None, (Rejection("parse", c.error or "unparseable"),), raw=c.raw)
            for c in candidates
            if c.creative is None
        ]
    from optimizer.filter.features import with_text_features
    from optimizer.filter.screen import Screener

    screener = Screener.build(cfg)
    verdicts = screener.screen(creatives, pool=pool, select=True) + failures
    if store is not None:
        store.save_campaign(cfg)
        store.add_verdicts(cfg.name, batch, verdicts)
    kept = [v.creative for v in verdicts if v.kept and v.creative is not None]
    return with_text_features(kept, screener.embedder), verdicts


def live_pool(cfg: CampaignConfig, store) -> list[Creative]:
    """What a new candidate must not duplicate: the stored active creatives and the config's
    seed creatives."""
    from optimizer.generate import seed_creatives

    pool = {c.id: c for c in store.active_creatives(cfg.name)}
    for c in seed_creatives(cfg):
        pool.setdefault(c.id, c)
    return list(pool.values())


def read_creatives(path: str, cfg: CampaignConfig) -> list[Creative]:
    from optimizer.filter.inputs import read_creatives as read

    return read(path, cfg)


def screen_creatives(cfg: CampaignConfig, creatives: Sequence[Creative]) -> list[Verdict]:
    """The same filters on creatives written by hand; no per-segment selection."""
    from optimizer.filter.screen import Screener

    return Screener.build(cfg).screen(creatives, select=False)


def generate_batch(
    cfg: CampaignConfig,
    store,  # optimizer.store.Store
    segments: Sequence[str] = (),
    n: int | None = None,
    progress: ProgressFactory | None = None,
) -> list[Verdict]:
    """New candidates for ``segments`` (default: all), screened against the live pool and
    stored with their verdicts (the ``generate`` command). The batch key is derived from the
    config, seed, segments and ``n``, so the same request names the same batch."""
    from optimizer.identity import run_key
    from optimizer.rng import Streams

    batch = run_key("generate", cfg.config_hash(), cfg.seed, sorted(segments), n)
    _, verdicts = generate_and_screen(
        cfg,
        Streams(cfg.seed).fresh("generate"),
        store,
        batch,
        segments or None,
        n,
        pool=live_pool(cfg, store),
        progress=progress,
    )
    return verdicts


def screen_file(cfg: CampaignConfig, path: str) -> list[Verdict]:
    """Verdicts on the creatives of a file written by hand (the ``screen`` command)."""
    return screen_creatives(cfg, read_creatives(path, cfg))
