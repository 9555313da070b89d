"""What a worker serves: the campaign's newest policy version and its creative pool.

Workers never learn: one learner (``serve``'s learner process, ``learn`` or the refresh
loop) registers versions in the ``policy`` table, and every worker polls that table and
swaps in the new version between requests, so all workers serve the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from optimizer.allocate import config_policy
from optimizer.allocate.registry import load_policy_class
from optimizer.config import CampaignConfig
from optimizer.errors import OptimizerError
from optimizer.records import Creative
from optimizer.rng import Streams
from optimizer.store.models import CreativeRow, PolicyRow

SCORER_KINDS = ("scorer",)


@dataclass(frozen=True)
class Served:
    version: str
    policy: Any
    pool: dict[str, list[Creative]]  # segment -> its eligible active creatives
    creatives: dict[str, Creative]  # id -> creative, with the features the policy needs
    fingerprint: tuple[str, tuple[str, ...]]


def newest_version(store, campaign: str) -> PolicyRow | None:
    """The campaign's most recently registered allocation policy (scorers excluded)."""
    q = (
        select(PolicyRow)
        .where(PolicyRow.campaign == campaign, PolicyRow.kind.not_in(SCORER_KINDS))
        .order_by(PolicyRow.created_at.desc(), PolicyRow.version.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    return PolicyRow(**row._mapping) if row is not None else None


def fingerprint(store, campaign: str) -> tuple[str, tuple[str, ...]]:
    """(newest version, active creative ids): what a worker compares to know it must reload."""
    row = newest_version(store, campaign)
    q = select(CreativeRow.id).where(
        CreativeRow.campaign == campaign, CreativeRow.status == "active"
    )
    with store.engine.connect() as conn:
        ids = tuple(sorted(conn.execute(q).scalars()))
    return (row.version if row else "", ids)


def initial_policy(cfg: CampaignConfig) -> tuple[str, Any]:
    """The untrained policy of the campaign's settings: the same in every worker."""
    policy = config_policy(cfg, Streams(cfg.seed))
    return f"{policy.name}-initial", policy


def load_policy(row: PolicyRow) -> Any:
    cls = load_policy_class(row.kind)
    try:
        return cls.load(Path(row.path))
    except FileNotFoundError:
        raise OptimizerError(
            f"policy version {row.version}: no model file at {row.path}; "
            "the serving machine needs the folder `learn` saved it in"
        ) from None


def load_served(store, cfg: CampaignConfig) -> Served:
    """Build what a worker serves from the store (call it off the event loop)."""
    mark = fingerprint(store, cfg.name)
    row = newest_version(store, cfg.name)
    if row is None:
        version, policy = initial_policy(cfg)
        text_features = False
    else:
        version, policy = row.version, load_policy(row)
        text_features = bool(row.metrics.get("text_features"))
    creatives = store.active_creatives(cfg.name)
    if not creatives:  # nothing served or stored yet: the campaign file's seed creatives
        from optimizer.generate import seed_creatives

        creatives = seed_creatives(cfg)
    if text_features:
        from optimizer.filter.embed import Embedder
        from optimizer.filter.features import with_text_features

        creatives = with_text_features(creatives, Embedder.shared())
    pool = {s.name: [c for c in creatives if c.segment in (None, s.name)] for s in cfg.segments}
    return Served(version, policy, pool, {c.id: c for c in creatives}, mark)
