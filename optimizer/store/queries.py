"""Reads of the event tables: logged events for learning and evaluation, statistics per
creative, counts, reports and quarantined rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from optimizer.store.logged import CANDIDATE_SET, DECISION, REWARD, LoggedEvents, read_logged
from optimizer.store.models import DecisionRow, QuarantineRow, ReportRow, RewardRow


class EventQueriesMixin:
    engine: Any

    def logged_decisions(self, campaign: str) -> LoggedEvents:
        """The campaign's decisions (one row each, in time order) and every reward stored
        for them, as arrays: the read behind learning and evaluation (see
        :class:`optimizer.store.logged.LoggedEvents`)."""
        with self.engine.connect() as conn:
            return read_logged(conn, campaign)

    def logged_events(self, campaign: str) -> Any:
        """Decisions with every reward joined on event id, as a pandas DataFrame (a row
        object per pair: slower than :meth:`logged_decisions`, for inspection and tests).

        Columns: event_id, timestamp, segment, context, candidates, chosen, probability,
        reward_kind, reward_value, reward_time (the last three NaN/None without a reward);
        one row per (decision, reward) pair, ordered by time. ``candidates`` is the logged
        list ([] when none was logged); decisions with the same list share one list object.
        """
        import pandas as pd

        d, r = DECISION, REWARD
        q = (
            select(
                d.c.event_id,
                d.c.timestamp,
                d.c.segment,
                d.c.context,
                d.c.candidate_set_id.label("candidates"),
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
            frame = pd.DataFrame(result.all(), columns=list(result.keys()))
            sets = self._candidate_sets(conn, campaign)
        empty: list[str] = []
        frame["candidates"] = [
            sets[k] if isinstance(k, str) else empty for k in frame["candidates"]
        ]
        return frame

    def _candidate_sets(self, conn, campaign: str) -> dict[str, list[str]]:
        used = select(DECISION.c.candidate_set_id).where(DECISION.c.campaign == campaign)
        q = select(CANDIDATE_SET.c.id, CANDIDATE_SET.c.ids).where(
            CANDIDATE_SET.c.id.in_(used.distinct())
        )
        return {k: list(ids) for k, ids in conn.execute(q)}

    def candidate_set(self, set_id: str) -> list[str]:
        """The candidate ids of a stored set."""
        with self.engine.connect() as conn:
            q = select(CANDIDATE_SET.c.ids).where(CANDIDATE_SET.c.id == set_id)
            return list(conn.execute(q).scalar_one())

    def orphan_rewards(self) -> int:
        """Reward events whose decision is not stored."""
        d, r = DECISION, REWARD
        q = (
            select(func.count())
            .select_from(r.outerjoin(d, r.c.event_id == d.c.event_id))
            .where(d.c.event_id.is_(None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

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
