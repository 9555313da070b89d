"""Seed creatives from the campaign file, as typed records with content-hash ids."""

from __future__ import annotations

from optimizer.config import CampaignConfig
from optimizer.records import Creative


def seed_creatives(cfg: CampaignConfig) -> list[Creative]:
    out: dict[str, Creative] = {}
    for i, seed in enumerate(cfg.seed_creatives):
        creative = Creative.from_text(
            cfg.name,
            seed.headline,
            seed.body,
            seed.cta,
            segment=seed.segment,
            source="seed",
            lineage={"config_index": i},
        )
        out.setdefault(creative.id, creative)  # the same text twice is one creative
    return list(out.values())
