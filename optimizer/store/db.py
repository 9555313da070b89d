"""The store: SQLite by default, any SQLAlchemy URL (PostgreSQL for several processes).

Stages hand it records; it never hands SQL to the CLI. Event inserts are batched and
idempotent: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL, a key check
elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from optimizer.errors import OptimizerError
from optimizer.records import Creative, Feedback
from optimizer.store.models import (
    SCHEMA_VERSION,
    CampaignRow,
    CreativeRow,
    DecisionRow,
    GeneratorRow,
    Meta,
    PolicyRow,
    QuarantineRow,
    ReportRow,
    RewardRow,
    RoundRow,
    RunRow,
    ScreeningRow,
    SegmentRow,
    utcnow,
)

FLUSH_EVERY = 5_000


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def connect(url: str) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file when missing."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise OptimizerError(
            f"database URL {url!r} is not a valid SQLAlchemy URL; "
            "use e.g. sqlite:///runs/optimizer.db or postgresql://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return create_engine(url)
    except Exception as exc:  # missing driver, bad options
        raise OptimizerError(f"database URL {url!r}: {exc}") from None


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)
        try:
            SQLModel.metadata.create_all(self.engine)
        except OperationalError as exc:
            raise OptimizerError(f"cannot open database {url!r}: {exc.orig}") from None
        with Session(self.engine) as s:
            meta = s.get(Meta, "schema_version")
            if meta is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                s.commit()
            elif int(meta.value) != SCHEMA_VERSION:
                raise OptimizerError(
                    f"database {url!r} has schema version {meta.value}, this version of the "
                    f"tool uses {SCHEMA_VERSION}; see CHANGELOG.md for the migration"
                )
        self._decisions: list[dict[str, Any]] = []
        self._rewards: list[dict[str, Any]] = []

    # -- idempotent bulk insert ----------------------------------------------------------------
    def _insert_ignore(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        table = model.__table__  # type: ignore[attr-defined]
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            if dialect in ("sqlite", "postgresql"):
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert as dialect_insert
                else:
                    from sqlalchemy.dialects.postgresql import insert as dialect_insert
                result = conn.execute(dialect_insert(table).on_conflict_do_nothing(), list(rows))
                return max(result.rowcount, 0)
            keys = [c.name for c in table.primary_key.columns]
            existing = {tuple(r) for r in conn.execute(select(*[table.c[k] for k in keys]))}
            fresh = [r for r in rows if tuple(r[k] for k in keys) not in existing]
            if fresh:
                conn.execute(insert(table), fresh)
            return len(fresh)

    # -- campaign and creatives ----------------------------------------------------------------
    def save_campaign(self, cfg: Any) -> None:
        """Create or update the campaign and its segments (config is a CampaignConfig)."""
        with Session(self.engine) as s:
            row = s.get(CampaignRow, cfg.name)
            data = cfg.model_dump(mode="json")
            if row is None:
                row = CampaignRow(
                    name=cfg.name,
                    product=cfg.product,
                    brief=cfg.brief,
                    brand_voice=cfg.brand_voice,
                    config_hash=cfg.config_hash(),
                    config=data,
                )
            else:
                row.product, row.brief, row.brand_voice = cfg.product, cfg.brief, cfg.brand_voice
                row.config_hash, row.config, row.updated_at = cfg.config_hash(), data, utcnow()
            s.add(row)
            for seg in cfg.segments:
                seg_row = s.get(SegmentRow, (cfg.name, seg.name)) or SegmentRow(
                    campaign=cfg.name, name=seg.name, share=seg.share, features={}
                )
                seg_row.share, seg_row.description = seg.share, seg.description
                seg_row.features = {k: v.model_dump(mode="json") for k, v in seg.features.items()}
                s.add(seg_row)
            s.commit()

    def add_creatives(
        self, creatives: Iterable[Creative], status: str = "active", reason: str | None = None
    ) -> int:
        """Insert creatives by content hash; returns how many were new."""
        rows = [
            dict(
                id=c.id,
                campaign=c.campaign,
                headline=c.headline,
                body=c.body,
                cta=c.cta,
                segment=c.segment,
                status=status,
                retired_reason=reason,
                source=c.source,
                prompt_id=c.prompt_id,
                generator_version=c.generator_version,
                parent_id=c.parent_id,
                lineage=dict(c.lineage),
                created_at=utcnow(),
            )
            for c in creatives
        ]
        return self._insert_ignore(CreativeRow, rows)

    def add_verdicts(self, campaign: str, batch: str, verdicts: Sequence[Any]) -> int:
        """Store the filter stage's verdicts and the creatives they judged.

        Kept creatives enter as active, rejected ones as rejected with their first reason;
        each verdict row keeps every reason and score. Re-storing a batch adds nothing.
        Returns the new verdict rows.
        """
        for v in verdicts:
            if v.creative is not None:
                first = v.rejections[0] if v.rejections else None
                reason = f"{first.filter}: {first.reason}" if first else None
                self.add_creatives([v.creative], "active" if v.kept else "rejected", reason)
        rows = []
        for i, v in enumerate(verdicts):
            d = v.as_dict()
            key = f"{campaign}|{batch}|{i}|{d['id']}"
            rows.append(
                dict(
                    id=hashlib.sha256(key.encode()).hexdigest()[:20],
                    batch=batch,
                    campaign=campaign,
                    creative_id=d["id"],
                    segment=d["segment"],
                    prompt_id=d["prompt_id"],
                    kept=v.kept,
                    reasons=d["reasons"],
                    scores=d["scores"],
                    raw=v.raw,
                    created_at=utcnow(),
                )
            )
        return self._insert_ignore(ScreeningRow, rows)

    def screenings(self, campaign: str) -> list[ScreeningRow]:
        with Session(self.engine) as s:
            q = select(ScreeningRow).where(ScreeningRow.campaign == campaign)
            return list(s.execute(q.order_by(ScreeningRow.batch, ScreeningRow.id)).scalars())

    def campaigns(self) -> list[CampaignRow]:
        with Session(self.engine) as s:
            return list(s.execute(select(CampaignRow).order_by(CampaignRow.name)).scalars())

    def campaign(self, name: str) -> CampaignRow:
        with Session(self.engine) as s:
            row = s.get(CampaignRow, name)
        if row is None:
            known = ", ".join(c.name for c in self.campaigns()) or "none yet; run a campaign first"
            raise OptimizerError(f"no campaign {name!r} in {self.url}; known: {known}")
        return row

    def segments(self, campaign: str) -> list[SegmentRow]:
        with Session(self.engine) as s:
            q = select(SegmentRow).where(SegmentRow.campaign == campaign)
            return list(s.execute(q).scalars())

    def creatives(
        self, campaign: str | None = None, status: str | None = None
    ) -> list[CreativeRow]:
        with Session(self.engine) as s:
            q = select(CreativeRow)
            if campaign is not None:
                q = q.where(CreativeRow.campaign == campaign)
            if status is not None:
                q = q.where(CreativeRow.status == status)
            return list(s.execute(q.order_by(CreativeRow.created_at, CreativeRow.id)).scalars())

    def active_creatives(self, campaign: str) -> list[Creative]:
        """The live pool as records (without bandit features; recompute them to serve)."""
        return [
            Creative(
                id=r.id,
                campaign=r.campaign,
                headline=r.headline,
                body=r.body,
                cta=r.cta,
                segment=r.segment,
                source=r.source,
                prompt_id=r.prompt_id,
                generator_version=r.generator_version,
                parent_id=r.parent_id,
                lineage=r.lineage or {},
            )
            for r in self.creatives(campaign, "active")
        ]

    def segment_creative_stats(self, campaign: str) -> dict[tuple[str, str], tuple[int, float]]:
        """(segment, creative id) -> (impressions, clicks) over the campaign's decisions."""
        with Session(self.engine) as s:
            q = (
                select(
                    DecisionRow.segment,
                    DecisionRow.chosen,
                    func.count(),
                    func.coalesce(func.sum(RewardRow.value), 0),
                )
                .select_from(DecisionRow)
                .outerjoin(
                    RewardRow,
                    (RewardRow.event_id == DecisionRow.event_id) & (RewardRow.kind == "click"),
                )
                .where(DecisionRow.campaign == campaign)
                .group_by(DecisionRow.segment, DecisionRow.chosen)
            )
            return {(seg or "", cid): (int(n), float(c)) for seg, cid, n, c in s.execute(q)}

    def creative_stats(self, campaign: str) -> dict[str, tuple[int, float]]:
        """creative id -> (impressions, clicks) over every stored decision of the campaign."""
        out: dict[str, tuple[int, float]] = {}
        for (_, cid), (n, clicks) in self.segment_creative_stats(campaign).items():
            before = out.get(cid, (0, 0.0))
            out[cid] = (before[0] + n, before[1] + clicks)
        return out

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, run: RunRow) -> None:
        with Session(self.engine) as s:
            existing = s.get(RunRow, run.id)
            if existing is None:
                s.add(run)
            else:
                existing.status, existing.started_at = "running", utcnow()
                s.add(existing)
            s.commit()

    def finish_run(self, run_id: str, summary: dict, model_path: str | None = None) -> None:
        self.flush()
        with Session(self.engine) as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise OptimizerError(f"run {run_id} is not in {self.url}")
            row.status, row.summary, row.finished_at = "done", summary, utcnow()
            row.model_path = model_path
            s.add(row)
            s.commit()

    def runs(self, campaign: str) -> list[RunRow]:
        with Session(self.engine) as s:
            q = select(RunRow).where(RunRow.campaign == campaign).order_by(RunRow.started_at)
            return list(s.execute(q).scalars())

    # -- events --------------------------------------------------------------------------------
    def log(self, feedbacks: Iterable[Feedback], run_id: str | None = None) -> None:
        """Queue decisions and rewards; written in batches of ``FLUSH_EVERY`` events."""
        for fb in feedbacks:
            d = fb.decision
            self._decisions.append(
                dict(
                    event_id=d.event_id,
                    run_id=run_id,
                    timestamp=_ts(d.timestamp),
                    campaign=d.campaign,
                    segment=d.context.segment,
                    context=dict(d.context.features),
                    candidates=list(d.candidates),
                    chosen=d.chosen,
                    probability=d.probability,
                    policy=d.policy,
                    policy_version=d.policy_version,
                )
            )
            self._rewards.append(
                dict(
                    event_id=d.event_id,
                    kind=fb.kind,
                    value=float(fb.reward),
                    timestamp=_ts(fb.timestamp if fb.timestamp is not None else d.timestamp),
                )
            )
        if len(self._decisions) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> tuple[int, int]:
        """Write queued events; returns (new decisions, new rewards)."""
        decisions, rewards = self._decisions, self._rewards
        self._decisions, self._rewards = [], []
        return self._insert_ignore(DecisionRow, decisions), self._insert_ignore(RewardRow, rewards)

    def insert_events(
        self, decisions: Sequence[dict], rewards: Sequence[dict], reports: Sequence[dict] = ()
    ) -> tuple[int, int, int]:
        """Insert already-validated event rows; returns how many of each were new."""
        return (
            self._insert_ignore(DecisionRow, decisions),
            self._insert_ignore(RewardRow, rewards),
            self._insert_ignore(ReportRow, reports),
        )

    def quarantine(self, rows: Sequence[dict]) -> int:
        return self._insert_ignore(QuarantineRow, rows)

    def quarantined(self, file: str | None = None) -> list[QuarantineRow]:
        with Session(self.engine) as s:
            q = select(QuarantineRow)
            if file is not None:
                q = q.where(QuarantineRow.file == file)
            return list(s.execute(q.order_by(QuarantineRow.file, QuarantineRow.line)).scalars())

    def reports(self, campaign: str) -> list[ReportRow]:
        with Session(self.engine) as s:
            q = select(ReportRow).where(ReportRow.campaign == campaign)
            return list(s.execute(q).scalars())

    def save_policy(self, row: PolicyRow) -> None:
        with Session(self.engine) as s:
            s.merge(row)
            s.commit()

    def policy(self, version: str) -> PolicyRow:
        with Session(self.engine) as s:
            row = s.get(PolicyRow, version)
        if row is None:
            raise OptimizerError(
                f"no stored policy {version!r} in {self.url}; `learn` or "
                "`run` saves one, or give a model file path"
            )
        return row

    def policies(self, campaign: str) -> list[PolicyRow]:
        with Session(self.engine) as s:
            q = select(PolicyRow).where(PolicyRow.campaign == campaign)
            return list(s.execute(q.order_by(PolicyRow.created_at)).scalars())

    def logged_events(self, campaign: str) -> Any:
        """Decisions with every reward joined on event id, as a pandas DataFrame.

        Columns: event_id, timestamp, segment, context, candidates, chosen, probability,
        reward_kind, reward_value, reward_time (the last three NaN/None without a reward);
        one row per (decision, reward) pair, ordered by time.
        """
        import pandas as pd

        d, r = DecisionRow.__table__, RewardRow.__table__  # type: ignore[attr-defined]
        q = (
            select(
                d.c.event_id,
                d.c.timestamp,
                d.c.segment,
                d.c.context,
                d.c.candidates,
                d.c.chosen,
                d.c.probability,
                r.c.kind.label("reward_kind"),
                r.c.value.label("reward_value"),
                r.c.timestamp.label("reward_time"),
            )
            .select_from(d.outerjoin(r, r.c.event_id == d.c.event_id))
            .where(d.c.campaign == campaign)
            .order_by(d.c.timestamp, d.c.event_id)
        )
        with self.engine.connect() as conn:
            result = conn.execute(q)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def orphan_rewards(self) -> int:
        """Reward events whose decision is not stored."""
        d, r = DecisionRow.__table__, RewardRow.__table__  # type: ignore[attr-defined]
        q = (
            select(func.count())
            .select_from(r.outerjoin(d, r.c.event_id == d.c.event_id))
            .where(d.c.event_id.is_(None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def save_round(
        self,
        row: RoundRow,
        retire: Sequence[tuple[str, str]] = (),
        generator: GeneratorRow | None = None,
    ) -> None:
        """Commit a round: its metrics, creatives retired for good, a new generator."""
        self.flush()
        with Session(self.engine) as s:
            s.merge(row)
            for cid, reason in retire:
                creative = s.get(CreativeRow, cid)
                if creative is not None and creative.status == "active":
                    creative.status, creative.retired_reason = "retired", reason
                    creative.retired_at = utcnow()
                    s.add(creative)
            if generator is not None:
                s.merge(generator)
            s.commit()

    def rounds(self, campaign: str, run_id: str | None = None) -> list[RoundRow]:
        with Session(self.engine) as s:
            q = select(RoundRow).where(RoundRow.campaign == campaign)
            if run_id is not None:
                q = q.where(RoundRow.run_id == run_id)
            return list(s.execute(q.order_by(RoundRow.created_at, RoundRow.round)).scalars())

    def generators(self, campaign: str) -> list[GeneratorRow]:
        with Session(self.engine) as s:
            q = select(GeneratorRow).where(GeneratorRow.campaign == campaign)
            return list(s.execute(q.order_by(GeneratorRow.created_at)).scalars())

    def count_events(self, campaign: str | None = None) -> tuple[int, int]:
        with Session(self.engine) as s:
            dq = select(func.count()).select_from(DecisionRow)
            rq = select(func.count()).select_from(RewardRow)
            if campaign is not None:
                dq = dq.where(DecisionRow.campaign == campaign)
                rq = rq.join(DecisionRow, DecisionRow.event_id == RewardRow.event_id).where(
                    DecisionRow.campaign == campaign
                )
            return int(s.execute(dq).scalar_one()), int(s.execute(rq).scalar_one())
