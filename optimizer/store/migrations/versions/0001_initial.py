"""Schema version 1: the tables as the store made them with ``create_all`` before migrations.

A database made by that code has these tables and ``meta.schema_version = '1'`` but no
``alembic_version``; ``schema.initialise`` stamps it at this revision and upgrades it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


S, J = sa.String, sa.JSON


def T() -> sa.DateTime:  # sqlmodel's UTCDateTime: TIMESTAMP WITH TIME ZONE on PostgreSQL
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", S(), primary_key=True),
        sa.Column("value", S(), nullable=False),
    )
    _campaign_tables()
    _run_tables()
    _event_tables()
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def _campaign_tables() -> None:
    op.create_table(
        "campaign",
        sa.Column("name", S(), primary_key=True),
        sa.Column("product", S(), nullable=False),
        sa.Column("brief", S(), nullable=False),
        sa.Column("brand_voice", S(), nullable=False),
        sa.Column("config_hash", S(), nullable=False),
        sa.Column("config", J(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
    )
    op.create_table(
        "screening",
        sa.Column("id", S(), primary_key=True),
        sa.Column("batch", S(), nullable=False),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("creative_id", S()),
        sa.Column("segment", S()),
        sa.Column("prompt_id", S()),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("reasons", J(), nullable=False),
        sa.Column("scores", J(), nullable=False),
        sa.Column("raw", S()),
        sa.Column("created_at", T(), nullable=False),
    )
    for column in ("campaign", "creative_id", "batch"):
        op.create_index(f"ix_screening_{column}", "screening", [column])

    op.create_table(
        "segment",
        sa.Column("campaign", S(), sa.ForeignKey("campaign.name"), primary_key=True),
        sa.Column("name", S(), primary_key=True),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("description", S(), nullable=False),
        sa.Column("features", J(), nullable=False),
    )
    op.create_table(
        "creative",
        sa.Column("id", S(), primary_key=True),
        sa.Column("campaign", S(), sa.ForeignKey("campaign.name"), nullable=False),
        sa.Column("headline", S(), nullable=False),
        sa.Column("body", S(), nullable=False),
        sa.Column("cta", S(), nullable=False),
        sa.Column("segment", S()),
        sa.Column("status", S(), nullable=False),
        sa.Column("retired_reason", S()),
        sa.Column("retired_at", T()),
        sa.Column("source", S(), nullable=False),
        sa.Column("prompt_id", S()),
        sa.Column("generator_version", S()),
        sa.Column("parent_id", S()),
        sa.Column("lineage", J(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_index("ix_creative_campaign", "creative", ["campaign"])


def _run_tables() -> None:
    op.create_table(
        "run",
        sa.Column("id", S(), primary_key=True),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("kind", S(), nullable=False),
        sa.Column("policy", S(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("config_hash", S(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("versions", J(), nullable=False),
        sa.Column("status", S(), nullable=False),
        sa.Column("summary", J()),
        sa.Column("model_path", S()),
        sa.Column("started_at", T(), nullable=False),
        sa.Column("finished_at", T()),
    )
    op.create_index("ix_run_campaign", "run", ["campaign"])

    op.create_table(
        "policy",
        sa.Column("version", S(), primary_key=True),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("kind", S(), nullable=False),
        sa.Column("path", S(), nullable=False),
        sa.Column("source", S(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("metrics", J(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_index("ix_policy_campaign", "policy", ["campaign"])
    op.create_table(
        "round",
        sa.Column("run_id", S(), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("refresh", sa.Boolean(), nullable=False),
        sa.Column("metrics", J(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_index("ix_round_campaign", "round", ["campaign"])
    op.create_table(
        "generator",
        sa.Column("version", S(), primary_key=True),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("base", S(), nullable=False),
        sa.Column("adapter", S()),
        sa.Column("data_hash", S()),
        sa.Column("metrics", J(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_index("ix_generator_campaign", "generator", ["campaign"])


def _event_tables() -> None:
    op.create_table(
        "decision",
        sa.Column("event_id", S(), primary_key=True),
        sa.Column("run_id", S()),
        sa.Column("timestamp", T(), nullable=False),
        sa.Column("campaign", S(), nullable=False),
        sa.Column("segment", S()),
        sa.Column("context", J(), nullable=False),
        sa.Column("candidates", J(), nullable=False),
        sa.Column("chosen", S(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("policy", S(), nullable=False),
        sa.Column("policy_version", S(), nullable=False),
    )
    op.create_index("ix_decision_campaign_segment", "decision", ["campaign", "segment"])
    op.create_index("ix_decision_run_id", "decision", ["run_id"])
    op.create_index("ix_decision_chosen", "decision", ["chosen"])
    op.create_table(
        "reward",
        sa.Column("event_id", S(), primary_key=True),
        sa.Column("kind", S(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", T(), nullable=False),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", S(), primary_key=True),
        sa.Column("file", S(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", S(), nullable=False),
        sa.Column("raw", S(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_table(
        "performance_report",
        sa.Column("campaign", S(), primary_key=True),
        sa.Column("segment", S(), primary_key=True),
        sa.Column("creative_id", S(), primary_key=True),
        sa.Column("date", S(), primary_key=True),
        sa.Column("headline", S(), nullable=False),
        sa.Column("body", S(), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer()),
    )
