"""Read-side views of a campaign for the CLI: plain dicts, no SQL outside the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optimizer.config import CampaignConfig
    from optimizer.store import Store


def config_overview(cfg: CampaignConfig) -> dict:
    """What a validated campaign file holds (``validate``); reads no database."""
    return {
        "campaign": cfg.name,
        "segments": len(cfg.segments),
        "seed_creatives": len(cfg.seed_creatives),
        "prompts": len(cfg.prompts),
        "policy": cfg.allocation.policy,
        "config_hash": cfg.config_hash(),
    }


def campaign_overview(store: Store, name: str) -> dict:
    row = store.campaign(name)
    creatives = store.creatives(name)
    decisions, rewards = store.count_events(name)
    runs = store.runs(name)
    return {
        "name": row.name,
        "product": row.product,
        "brief": row.brief,
        "config_hash": row.config_hash,
        "segments": [
            {
                "name": s.name,
                "share": s.share,
                "description": s.description,
                "features": sorted(s.features),
            }
            for s in store.segments(name)
        ],
        "creatives": {
            "active": sum(c.status == "active" for c in creatives),
            "retired": sum(c.status == "retired" for c in creatives),
            "rejected": sum(c.status == "rejected" for c in creatives),
        },
        "events": {"decisions": decisions, "rewards": rewards},
        "runs": [
            {
                "id": r.id,
                "policy": r.policy,
                "seed": r.seed,
                "impressions": r.impressions,
                "status": r.status,
                "started_at": r.started_at.isoformat(),
                "ctr": (r.summary or {}).get("policy", {}).get("ctr"),
                "lift_vs_uniform": (r.summary or {}).get("lift_vs_uniform"),
            }
            for r in runs
        ],
    }


def creative_list(store: Store, campaign: str, status: str | None = None) -> list[dict]:
    store.campaign(campaign)  # a clear error for an unknown campaign
    stats = store.creative_stats(campaign)
    out = []
    for c in store.creatives(campaign, status):
        shown, clicks = stats.get(c.id, (0, 0.0))
        out.append(
            {
                "id": c.id,
                "headline": c.headline,
                "body": c.body,
                "cta": c.cta,
                "segment": c.segment,
                "status": c.status,
                "retired_reason": c.retired_reason,
                "source": c.source,
                "impressions": shown,
                "clicks": int(clicks),
                "ctr": round(clicks / shown, 5) if shown else None,
            }
        )
    return out
