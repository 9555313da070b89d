"""Schema version 3: the decision service's tables (models in ``optimizer/serve/models.py``).

- ``api_key`` (id, campaign, digest = sha256 of the whole key, name, created_at,
  revoked_at): keys of ``serve``, stored hashed, one campaign each;
- ``deferred_decision`` (event_id, campaign, decision JSON, created_at, activated_at):
  decisions ranked with ``deferActivation`` waiting for ``/activate``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_key_campaign", "api_key", ["campaign"])
    op.create_table(
        "deferred_decision",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_deferred_decision_campaign", "deferred_decision", ["campaign"])
    op.execute(sa.text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))


def downgrade() -> None:
    op.drop_table("deferred_decision")
    op.drop_table("api_key")
    op.execute(sa.text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
