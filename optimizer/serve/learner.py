"""The one learner of a deployment: trains on what the workers logged, registers versions.

Each pass at time ``now`` learns every decision that became final since the last pass,
exactly once, with the logged probability (counterfactual learning, as ``learn`` does):

- a decision is *final early* when rewards of every configured kind arrived within its
  window; it is learned in the pass whose reward watermark ``R`` first covers its last
  reward;
- every other decision is learned at its deadline (``timestamp + window``), with the sum
  of its in-window rewards or, without one, the campaign's default reward.

Two watermarks make this exact and restartable: ``D`` (decisions with a timestamp up to
``D`` are done) and ``R`` (final-early decisions whose last reward arrived by ``R`` are
done). A deadline pass skips decisions that were final early by the previous ``R``. Both
trail the clock by ``margin``, longer than a group commit takes, so nothing committed late
is missed. The watermarks are stored with each registered version's metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, select

from optimizer.records import Context, Creative, Decision, Feedback
from optimizer.serve.policy import load_served, newest_version
from optimizer.serve.service import prepare_store
from optimizer.serve.settings import ServeSettings
from optimizer.serve.tables import CANDIDATE_SET, DECISION, REWARD
from optimizer.store import rows
from optimizer.store.models import PolicyRow

log = logging.getLogger("optimizer.serve.learner")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MARGIN = timedelta(seconds=2)


def _watermarks(row: PolicyRow | None) -> tuple[datetime, datetime]:
    if row is None:
        return EPOCH, EPOCH
    m = row.metrics or {}
    if "deadline_watermark" in m:
        return datetime.fromisoformat(m["deadline_watermark"]), datetime.fromisoformat(
            m["reward_watermark"]
        )
    if "train_until" in m:  # a version `learn` trained on the logs up to that time
        until = rows.utc(datetime.fromisoformat(str(m["train_until"])))
        return until, until
    return EPOCH, EPOCH


def _events(conn, where) -> Iterator[tuple]:
    """(decision row, [(kind, value, time)]) per decision matching ``where``, by time."""
    q = (
        select(
            DECISION.c.event_id,
            DECISION.c.timestamp,
            DECISION.c.segment,
            DECISION.c.context,
            CANDIDATE_SET.c.ids.label("candidates"),
            DECISION.c.chosen,
            DECISION.c.probability,
            REWARD.c.kind,
            REWARD.c.value,
            REWARD.c.timestamp.label("reward_time"),
        )
        .select_from(
            DECISION.outerjoin(REWARD, REWARD.c.event_id == DECISION.c.event_id).outerjoin(
                CANDIDATE_SET, CANDIDATE_SET.c.id == DECISION.c.candidate_set_id
            )
        )
        .where(where)
        .order_by(DECISION.c.timestamp, DECISION.c.event_id)
    )
    current, rewards = None, []
    for row in conn.execute(q):
        if current is not None and row.event_id != current.event_id:
            yield current, rewards
            rewards = []
        current = row
        if row.kind is not None:
            rewards.append((row.kind, float(row.value), rows.utc(row.reward_time)))
    if current is not None:
        yield current, rewards


class Learner:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.cfg, self.store = prepare_store(settings)
        att = self.cfg.attribution
        self.window = timedelta(hours=att.window_hours)
        self.kinds, self.default = set(att.kinds), att.default_reward
        self._rebase()

    def _rebase(self) -> None:
        """Continue from the campaign's newest version and its watermarks."""
        row = newest_version(self.store, self.cfg.name)
        served = load_served(self.store, self.cfg)
        self.version, self.policy, self.creatives = served.version, served.policy, served.creatives
        self.text_features = bool(row and row.metrics.get("text_features"))
        self.deadline, self.rewarded = _watermarks(row)

    def _outcome(self, ts: datetime, rewards: list) -> tuple[float, datetime | None, bool]:
        """(reward, time it became final early or None, whether any reward counted)."""
        hits = [(k, v, t) for k, v, t in rewards if k in self.kinds and ts <= t <= ts + self.window]
        final = max(t for _, _, t in hits) if {k for k, _, _ in hits} >= self.kinds else None
        return (sum(v for _, v, _ in hits) if hits else self.default), final, bool(hits)

    def _learn(self, row, reward: float) -> None:
        ids = list(row.candidates or [row.chosen])
        cands = [
            self.creatives.get(i) or Creative(id=i, campaign="", headline=i, body="", cta="")
            for i in ids
        ]
        context = Context(segment=row.segment or "", features=row.context or {})
        index = ids.index(row.chosen)
        if hasattr(self.policy, "learn_logged"):
            self.policy.learn_logged(context, cands, index, float(row.probability), reward)
            return
        decision = Decision(
            event_id=row.event_id,
            timestamp=rows.utc(row.timestamp).timestamp(),
            campaign=self.cfg.name,
            context=context,
            candidates=tuple(ids),
            chosen=row.chosen,
            probability=float(row.probability),
            policy="logged",
            policy_version="logged",
        )
        self.policy.learn([Feedback(decision, reward)])

    def step(self, now: datetime | None = None) -> dict:
        """One pass; registers a version when it learned anything. Returns its counts."""
        now = now or datetime.now(UTC)
        new_d, new_r = now - self.window - MARGIN, now - MARGIN
        counts = {"learned": 0, "rewarded": 0, "defaults": 0}
        campaign = DECISION.c.campaign == self.cfg.name
        with self.store.engine.connect() as conn:
            due = and_(
                campaign, DECISION.c.timestamp > self.deadline, DECISION.c.timestamp <= new_d
            )
            for row, rewards in _events(conn, due):
                reward, final, hit = self._outcome(rows.utc(row.timestamp), rewards)
                if final is not None and final <= self.rewarded:
                    continue  # learned early in an earlier pass
                self._learn(row, reward)
                counts["learned"] += 1
                counts["rewarded" if hit else "defaults"] += 1
            fresh = select(REWARD.c.event_id).where(
                REWARD.c.timestamp > self.rewarded, REWARD.c.timestamp <= new_r
            )
            early = and_(campaign, DECISION.c.timestamp > new_d, DECISION.c.event_id.in_(fresh))
            for row, rewards in _events(conn, early):
                reward, final, _ = self._outcome(rows.utc(row.timestamp), rewards)
                if final is not None and self.rewarded < final <= new_r:
                    self._learn(row, reward)
                    counts["learned"] += 1
                    counts["rewarded"] += 1
        self.deadline, self.rewarded = max(self.deadline, new_d), max(self.rewarded, new_r)
        if counts["learned"]:
            self._register(counts)
        return {**counts, "version": self.version}

    def _register(self, counts: dict) -> None:
        name = self.policy.name
        version = f"{name}-serve-{self.rewarded:%Y%m%dT%H%M%S%f}"
        folder = Path(self.settings.state_dir) / self.cfg.name / "policies" / version
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ("policy.vw" if name == "vw" else "policy.json")
        self.policy.save(path)
        metrics = {
            **counts,
            "deadline_watermark": self.deadline.isoformat(),
            "reward_watermark": self.rewarded.isoformat(),
            "base": self.version,
            "text_features": self.text_features,
        }
        self.store.save_policy(
            PolicyRow(
                version=version,
                campaign=self.cfg.name,
                kind=name,
                path=str(path),
                source="serve",
                events=counts["learned"],
                metrics=metrics,
                created_at=datetime.now(UTC),
            )
        )
        self.version = version


LEARNER_NICENESS = 10


def learn_forever(settings: ServeSettings) -> None:
    """The learner process: a pass every ``learn_every_s`` seconds until killed."""
    from optimizer.serve import metrics

    # Learning yields the cores to the workers' requests: decisions are latency-bound,
    # learning is not.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(LEARNER_NICENESS)
    learner = Learner(settings)
    parent = os.getppid()
    while os.getppid() == parent:  # the server went away: so does its learner
        time.sleep(settings.learn_every_s)
        try:
            counts = learner.step()
        except Exception:  # the database may be briefly unavailable; try again next pass
            log.exception("learner pass failed")
            continue
        metrics.LEARNED.inc(counts["learned"])
        metrics.DEFAULTS.inc(counts["defaults"])


if __name__ == "__main__":
    learn_forever(ServeSettings.from_env())
