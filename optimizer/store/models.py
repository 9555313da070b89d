"""Tables. Decisions and rewards are append-only events keyed by event id.

Portable column types only (no SQLite-specific ones), so the same models work on PostgreSQL.
The schema is made by the Alembic migrations in ``optimizer/store/migrations/versions/``,
never by ``create_all``: when a table changes, add a migration (the models here and the
migrated schema are compared by ``tests/store/test_migrations.py``), bump ``SCHEMA_VERSION``
and record the change in CHANGELOG.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"
    name: str = Field(primary_key=True)
    product: str
    brief: str
    brand_voice: str = ""
    config_hash: str
    config: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SegmentRow(SQLModel, table=True):
    __tablename__ = "segment"
    campaign: str = Field(primary_key=True, foreign_key="campaign.name")
    name: str = Field(primary_key=True)
    share: float
    description: str = ""
    features: dict = Field(sa_column=Column(JSON, nullable=False))


class CreativeRow(SQLModel, table=True):
    __tablename__ = "creative"
    id: str = Field(primary_key=True)  # content hash of campaign + text
    campaign: str = Field(foreign_key="campaign.name", index=True)
    headline: str
    body: str = ""
    cta: str = ""
    segment: str | None = None  # None: eligible for every segment
    status: str = "active"  # active | retired | rejected (by the filter stage)
    retired_reason: str | None = None
    retired_at: datetime | None = None
    source: str = "seed"  # seed | generated | manual
    prompt_id: str | None = None
    generator_version: str | None = None
    parent_id: str | None = None
    lineage: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class ScreeningRow(SQLModel, table=True):
    """One verdict of the filter stage: kept or rejected, with every reason and score."""

    __tablename__ = "screening"
    id: str = Field(primary_key=True)  # hash of batch and position: re-storing is a no-op
    batch: str = Field(index=True)  # a generation/screening call
    campaign: str = Field(index=True)
    creative_id: str | None = Field(default=None, index=True)  # None: unparseable answer
    segment: str | None = None
    prompt_id: str | None = None
    kept: bool
    reasons: list = Field(sa_column=Column(JSON, nullable=False))
    scores: dict = Field(sa_column=Column(JSON, nullable=False))
    raw: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RunRow(SQLModel, table=True):
    __tablename__ = "run"
    id: str = Field(primary_key=True)
    campaign: str = Field(index=True)
    kind: str = "simulation"
    policy: str
    seed: int
    config_hash: str
    impressions: int
    batch_size: int
    versions: dict = Field(sa_column=Column(JSON, nullable=False))
    status: str = "running"  # running | done
    summary: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    model_path: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class CandidateSetRow(SQLModel, table=True):
    """A list of candidate creative ids, stored once and referenced by the decisions that
    chose among it (2,000 candidates are 40 KB: once per set, not once per decision)."""

    __tablename__ = "candidate_set"
    id: str = Field(primary_key=True)  # content hash of the ordered ids
    size: int
    ids: list = Field(sa_column=Column(JSON, nullable=False))


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_campaign_segment", "campaign", "segment"),)
    event_id: str = Field(primary_key=True)
    run_id: str | None = None
    timestamp: datetime  # UTC, stored without a zone
    campaign: str
    segment: str | None = None
    context: dict = Field(sa_column=Column(JSON, nullable=False))
    candidate_set_id: str | None = None  # None: no candidate list was logged
    chosen: str
    probability: float
    policy: str
    policy_version: str
    digest: str  # content hash (see rows.decision_row): an identical re-send is a no-op


class RewardRow(SQLModel, table=True):
    __tablename__ = "reward"
    event_id: str = Field(primary_key=True)
    kind: str = Field(primary_key=True, default="click")
    value: float
    timestamp: datetime  # UTC, stored without a zone
    digest: str


class QuarantineRow(SQLModel, table=True):
    """A row of an ingested file that could not be stored, and why. Nothing is dropped."""

    __tablename__ = "quarantine"
    id: str = Field(primary_key=True)  # hash of the file's content and the line number
    file: str
    line: int
    reason: str
    raw: str
    created_at: datetime = Field(default_factory=utcnow)


class ReportRow(SQLModel, table=True):
    """Aggregated creative performance, as ad platforms export it (one row a day)."""

    __tablename__ = "performance_report"
    campaign: str = Field(primary_key=True)
    segment: str = Field(primary_key=True)  # "" when the report has no segment
    creative_id: str = Field(primary_key=True)
    date: str = Field(primary_key=True)  # ISO date
    # An A/B test or ad set whose creatives compete with each other; "" when none.
    ad_group: str = Field(primary_key=True, default="")
    headline: str = ""
    body: str = ""
    impressions: int
    clicks: int
    conversions: int | None = None
    digest: str


class PolicyRow(SQLModel, table=True):
    """A saved, versioned model: an allocation policy (kind ``vw``, learned from logs or by
    a run) or a creative scorer (kind ``scorer``)."""

    __tablename__ = "policy"
    version: str = Field(primary_key=True)
    campaign: str = Field(index=True)
    kind: str  # vw | thompson | ...
    path: str
    source: str  # logs | run
    events: int = 0
    metrics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class RoundRow(SQLModel, table=True):
    """One completed round of a campaign played in rounds, with everything the report
    plots: CTRs, shares, regret, prompts, retirements, generator versions."""

    __tablename__ = "round"
    run_id: str = Field(primary_key=True)
    round: int = Field(primary_key=True)
    campaign: str = Field(index=True)
    refresh: bool
    metrics: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class GeneratorRow(SQLModel, table=True):
    """A generator version: the base model, or a LoRA adapter trained by the refresh."""

    __tablename__ = "generator"
    version: str = Field(primary_key=True)
    campaign: str = Field(index=True)
    base: str
    adapter: str | None = None
    data_hash: str | None = None
    metrics: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
