"""Schema version 4: drop the decision indexes no query uses (``run_id``, ``chosen``);
each one cost every insert.

Reads filter decisions by campaign (``ix_decision_campaign_segment``) and join rewards on
the event id (the primary key).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_decision_run_id", table_name="decision")
    op.drop_index("ix_decision_chosen", table_name="decision")
    op.execute(sa.text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
