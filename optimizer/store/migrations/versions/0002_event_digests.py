"""Schema version 2: candidate sets by reference, content digests, report ad groups.

- ``candidate_set`` (id = content hash of the ordered ids, size, ids): a decision keeps
  ``candidate_set_id`` instead of its whole list (``decision.candidates`` is dropped);
- ``decision.digest``, ``reward.digest``, ``performance_report.digest``: content hashes
  that tell an identical re-send from a conflicting duplicate (see ``store.rows``);
- ``performance_report.ad_group`` ('' for none), part of the primary key.

Existing rows are converted in place, in chunks, with the same helpers the store writes
with, so their digests equal those of the same events ingested again.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from optimizer.store.rows import decision_row, report_row, reward_row

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHUNK = 10_000
S, J, T, F, N = sa.String, sa.JSON, sa.DateTime, sa.Float, sa.Integer
DECISION = sa.table(
    "decision",
    *[sa.column(c, S) for c in ("event_id", "run_id", "campaign", "segment", "chosen")],
    *[sa.column(c, S) for c in ("policy", "policy_version", "candidate_set_id", "digest")],
    sa.column("timestamp", T(timezone=True)),
    sa.column("context", J),
    sa.column("candidates", J),
    sa.column("probability", F),
)
REWARD = sa.table(
    "reward",
    *[sa.column(c, S) for c in ("event_id", "kind", "digest")],
    sa.column("value", F),
    sa.column("timestamp", T(timezone=True)),
)
REPORT = sa.table(
    "performance_report",
    *[sa.column(c, S) for c in ("campaign", "segment", "creative_id", "date", "ad_group")],
    *[sa.column(c, S) for c in ("headline", "body", "digest")],
    *[sa.column(c, N) for c in ("impressions", "clicks", "conversions")],
)
CANDIDATE_SET = sa.table(
    "candidate_set", sa.column("id", S), sa.column("size", N), sa.column("ids", J)
)


def _chunks(conn, table, key: list[str]):
    """Rows of ``table`` in chunks of ``CHUNK``, by primary key (keyset pagination)."""
    cols = [table.c[k] for k in key]
    last = None
    while True:
        q = sa.select(table).order_by(*cols).limit(CHUNK)
        if last is not None:
            q = q.where(sa.tuple_(*cols) > sa.tuple_(*[sa.literal(v) for v in last]))
        rows = conn.execute(q).mappings().all()
        if not rows:
            return
        yield rows
        last = [rows[-1][k] for k in key]


def _update(conn, table, key: list[str], rows: list[dict], values: list[str]) -> None:
    stmt = (
        table.update()
        .where(*[table.c[k] == sa.bindparam(f"k_{k}") for k in key])
        .values({v: sa.bindparam(f"v_{v}") for v in values})
    )
    conn.execute(
        stmt,
        [{**{f"k_{k}": r[k] for k in key}, **{f"v_{v}": r[v] for v in values}} for r in rows],
    )


def _convert_decisions(conn) -> None:
    seen: set[str] = set()
    for chunk in _chunks(conn, DECISION, ["event_id"]):
        rows = [
            decision_row(**{k: r[k] for k in r.keys() if k not in ("candidate_set_id", "digest")})
            for r in chunk
        ]
        sets = {r["candidate_set_id"]: r["candidates"] for r in rows if r["candidate_set_id"]}
        fresh = [{"id": k, "size": len(v), "ids": list(v)} for k, v in sets.items()]
        fresh = [row for row in fresh if row["id"] not in seen]
        if fresh:
            conn.execute(CANDIDATE_SET.insert(), fresh)
            seen.update(sets)
        _update(conn, DECISION, ["event_id"], rows, ["candidate_set_id", "digest"])


def _convert_rewards(conn) -> None:
    for chunk in _chunks(conn, REWARD, ["event_id", "kind"]):
        rows = [reward_row(**{k: r[k] for k in r.keys() if k != "digest"}) for r in chunk]
        _update(conn, REWARD, ["event_id", "kind"], rows, ["digest"])


def _convert_reports(conn) -> None:
    key = ["campaign", "segment", "creative_id", "date", "ad_group"]
    for chunk in _chunks(conn, REPORT, key):
        rows = [report_row(**{k: r[k] for k in r.keys() if k != "digest"}) for r in chunk]
        _update(conn, REPORT, key, rows, ["digest"])


def _rebuild_report_sqlite(key: list[str]) -> None:
    columns = ["campaign", "segment", "creative_id", "date", "headline", "body"]
    counts = ["impressions", "clicks", "conversions"]
    op.create_table(
        "_performance_report_v2",
        *[sa.Column(c, S(), nullable=False) for c in columns],
        *[sa.Column(c, N(), nullable=c == "conversions") for c in counts],
        sa.Column("ad_group", S(), nullable=False, server_default=""),
        sa.Column("digest", S()),
        sa.PrimaryKeyConstraint(*key),
    )
    names = ", ".join(columns + counts)
    op.execute(
        sa.text(
            f"INSERT INTO _performance_report_v2 ({names}) SELECT {names} FROM performance_report"
        )
    )
    op.drop_table("performance_report")
    op.rename_table("_performance_report_v2", "performance_report")


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "candidate_set",
        sa.Column("id", S(), primary_key=True),
        sa.Column("size", N(), nullable=False),
        sa.Column("ids", J(), nullable=False),
    )
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("candidate_set_id", S()))
        batch.add_column(sa.Column("digest", S()))
    with op.batch_alter_table("reward") as batch:
        batch.add_column(sa.Column("digest", S()))
    key = ["campaign", "segment", "creative_id", "date", "ad_group"]
    if conn.dialect.name == "sqlite":  # a new primary key means a new table
        _rebuild_report_sqlite(key)
    else:
        op.add_column(
            "performance_report",
            sa.Column("ad_group", S(), nullable=False, server_default=""),
        )
        op.add_column("performance_report", sa.Column("digest", S()))
        op.drop_constraint("performance_report_pkey", "performance_report", type_="primary")
        op.create_primary_key("performance_report_pkey", "performance_report", key)
    _convert_decisions(conn)
    _convert_rewards(conn)
    _convert_reports(conn)
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("candidates")
        batch.alter_column("digest", existing_type=S(), nullable=False)
    with op.batch_alter_table("reward") as batch:
        batch.alter_column("digest", existing_type=S(), nullable=False)
    with op.batch_alter_table("performance_report") as batch:
        batch.alter_column("digest", existing_type=S(), nullable=False)
    op.execute(sa.text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
