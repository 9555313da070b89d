"""The store's catalogue: campaigns and segments, creatives and verdicts, runs, policies,
rounds and generator versions (small records written by the loop, read by everyone)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from optimizer.errors import OptimizerError
from optimizer.records import Creative, creative_id
from optimizer.store.bulk import insert_ignore
from optimizer.store.engine import CATALOG_LOCK, write_transaction
from optimizer.store.models import (
    CampaignRow,
    CreativeRow,
    GeneratorRow,
    PolicyRow,
    RoundRow,
    RunRow,
    ScreeningRow,
    SegmentRow,
    utcnow,
)
from optimizer.store.rows import creative_record, creative_row


class CatalogMixin:
    url: str
    engine: Any

    def flush(self) -> tuple[int, int]:  # the event queue (EventsMixin)
        raise NotImplementedError

    def _session(self):
        """A write session in a serialised transaction (``BEGIN IMMEDIATE`` on SQLite, an
        advisory lock on PostgreSQL): its reads and writes are one step."""
        return _WriteSession(self.engine)

    # -- campaign and creatives ----------------------------------------------------------------
    def save_campaign(self, cfg: Any) -> None:
        """Create or update the campaign and its segments (config is a CampaignConfig)."""
        with self._session() as s:
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

    def add_creatives(
        self, creatives: Iterable[Creative], status: str = "active", reason: str | None = None
    ) -> int:
        """Insert creatives by content hash; returns how many were new."""
        rows = [creative_row(c, status, reason) for c in creatives]
        if not rows:
            return 0
        with write_transaction(self.engine) as conn:
            return insert_ignore(conn, CreativeRow.__table__, rows)  # type: ignore[attr-defined]

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
        if not rows:
            return 0
        with write_transaction(self.engine) as conn:
            return insert_ignore(conn, ScreeningRow.__table__, rows)  # type: ignore[attr-defined]

    def screenings(self, campaign: str) -> list[ScreeningRow]:
        q = select(ScreeningRow).where(ScreeningRow.campaign == campaign)
        return self._all(q.order_by(ScreeningRow.batch, ScreeningRow.id))

    def campaigns(self) -> list[CampaignRow]:
        return self._all(select(CampaignRow).order_by(CampaignRow.name))

    def campaign(self, name: str) -> CampaignRow:
        with Session(self.engine) as s:
            row = s.get(CampaignRow, name)
        if row is None:
            known = ", ".join(c.name for c in self.campaigns()) or "none yet; run a campaign first"
            raise OptimizerError(f"no campaign {name!r} in {self.url}; known: {known}")
        return row

    def segments(self, campaign: str) -> list[SegmentRow]:
        return self._all(select(SegmentRow).where(SegmentRow.campaign == campaign))

    def creatives(
        self, campaign: str | None = None, status: str | None = None
    ) -> list[CreativeRow]:
        q = select(CreativeRow)
        if campaign is not None:
            q = q.where(CreativeRow.campaign == campaign)
        if status is not None:
            q = q.where(CreativeRow.status == status)
        return self._all(q.order_by(CreativeRow.created_at, CreativeRow.id))

    def creative_ids(self, campaign: str) -> set[str]:
        """Ids of the campaign's creatives: stored ones (any status) and the seed creatives
        of its stored config (which exist before any run has stored them)."""
        q = select(CreativeRow.id).where(CreativeRow.campaign == campaign)
        with Session(self.engine) as s:
            ids = set(s.execute(q).scalars())
        seeds = self.campaign(campaign).config.get("seed_creatives") or []
        ids.update(
            creative_id(campaign, c.get("headline", ""), c.get("body", ""), c.get("cta", ""))
            for c in seeds
        )
        return ids

    def active_creatives(self, campaign: str) -> list[Creative]:
        """The live pool as records (without bandit features; recompute them to serve)."""
        return [creative_record(r) for r in self.creatives(campaign, "active")]

    # -- runs, policies, rounds, generators -------------------------------------------------------
    def start_run(self, run: RunRow) -> None:
        with self._session() as s:
            existing = s.get(RunRow, run.id)
            if existing is None:
                s.add(run)
            else:
                existing.status, existing.started_at = "running", utcnow()
                s.add(existing)

    def finish_run(self, run_id: str, summary: dict, model_path: str | None = None) -> None:
        self.flush()
        with self._session() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise OptimizerError(f"run {run_id} is not in {self.url}")
            row.status, row.summary, row.finished_at = "done", summary, utcnow()
            row.model_path = model_path
            s.add(row)

    def runs(self, campaign: str) -> list[RunRow]:
        return self._all(
            select(RunRow).where(RunRow.campaign == campaign).order_by(RunRow.started_at)
        )

    def save_policy(self, row: PolicyRow) -> None:
        with self._session() as s:
            s.merge(row)

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
        q = select(PolicyRow).where(PolicyRow.campaign == campaign)
        return self._all(q.order_by(PolicyRow.created_at))

    def save_round(
        self,
        row: RoundRow,
        retire: Sequence[tuple[str, str]] = (),
        generator: GeneratorRow | None = None,
    ) -> None:
        """Commit a round: its metrics, creatives retired for good, a new generator."""
        self.flush()
        with self._session() as s:
            s.merge(row)
            for cid, reason in retire:
                creative = s.get(CreativeRow, cid)
                if creative is not None and creative.status == "active":
                    creative.status, creative.retired_reason = "retired", reason
                    creative.retired_at = utcnow()
                    s.add(creative)
            if generator is not None:
                s.merge(generator)

    def rounds(self, campaign: str, run_id: str | None = None) -> list[RoundRow]:
        q = select(RoundRow).where(RoundRow.campaign == campaign)
        if run_id is not None:
            q = q.where(RoundRow.run_id == run_id)
        return self._all(q.order_by(RoundRow.created_at, RoundRow.round))

    def generators(self, campaign: str) -> list[GeneratorRow]:
        q = select(GeneratorRow).where(GeneratorRow.campaign == campaign)
        return self._all(q.order_by(GeneratorRow.created_at))

    def _all(self, query) -> list:
        with Session(self.engine) as s:
            return list(s.execute(query).scalars())


class _WriteSession:
    """``with``: an ORM session on a serialised write transaction, committed at the end."""

    def __init__(self, engine) -> None:
        self._transaction = write_transaction(engine, lock=CATALOG_LOCK)

    def __enter__(self) -> Session:
        conn = self._transaction.__enter__()
        self._session = Session(bind=conn, join_transaction_mode="rollback_only")
        return self._session

    def __exit__(self, *exc) -> bool | None:
        if exc[0] is None:
            self._session.flush()
        self._session.close()
        return self._transaction.__exit__(*exc)
