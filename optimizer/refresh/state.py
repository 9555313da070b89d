"""The state a campaign carries from round to round (what a checkpoint holds)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from optimizer.records import Creative
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.metrics import InitialPool, RoundMetrics
from optimizer.refresh.prompts import PromptArm
from optimizer.refresh.retire import Retirement


@dataclass
class State:
    """Everything a round starts from. ``round`` is the last completed round (0: none)."""

    round: int
    policy: str  # registry name of the serving policy (its model is saved beside the state)
    creatives: dict[str, Creative]  # every creative ever active, by id
    pool: dict[str, list[str]]  # segment -> active creative ids
    stats: CreativeStats
    prompts: list[PromptArm]
    prompt_stats: dict[str, list[float]]  # prompt id -> [clicks, impressions]
    simulator: dict  # the audience's drift state
    generator: dict  # {"version": ..., "adapter": folder or None}
    initial: InitialPool
    history: list[RoundMetrics]
    # operator bandit: arm -> [wins, trials] from its children (operators.bandit.credit)
    operators: dict[str, list[float]] = field(default_factory=dict)
    made: dict[str, float] = field(default_factory=dict)  # arm -> candidates it was asked for

    def count_made(self, plan: Mapping[str, Mapping[str, int]]) -> None:
        """Add a round's budget (segment -> arm -> candidates) to what each arm made."""
        for arms in plan.values():
            for arm, n in arms.items():
                self.made[arm] = self.made.get(arm, 0) + n

    def active(self) -> dict[str, list[Creative]]:
        """The serving pool: segment -> its active creatives."""
        return {s: [self.creatives[i] for i in ids] for s, ids in self.pool.items()}

    def live(self) -> list[Creative]:
        """Active creatives of every segment (what a new candidate must not duplicate)."""
        return [self.creatives[i] for ids in self.pool.values() for i in ids]

    def pool_size(self) -> dict[str, int]:
        return {s: len(ids) for s, ids in self.pool.items()}

    def retire(self, retirements: Iterable[Retirement]) -> list[tuple[str, str]]:
        """Take retired creatives out of their segments; returns ``(id, reason)`` of those
        no segment serves any more (retired for good)."""
        gone = []
        for r in retirements:
            self.pool[r.segment].remove(r.creative_id)
            if not any(r.creative_id in ids for ids in self.pool.values()):
                gone.append((r.creative_id, r.reason))
        return gone

    def admit(self, segment: str, creatives: Sequence[Creative]) -> None:
        for c in creatives:
            self.creatives[c.id] = c
            self.pool[segment].append(c.id)

    def replace_prompts(self, child: PromptArm, retired: Iterable[str]) -> None:
        """Add a rewritten prompt and drop the ``retired`` ones."""
        gone = set(retired)
        self.prompts = [p for p in [*self.prompts, child] if p.id not in gone]

    def credit_prompts(self, chosen: Iterable[str], rewards: Iterable[float]) -> None:
        """Each served impression counts for the prompt that wrote its creative."""
        for cid, reward in zip(chosen, rewards, strict=True):
            pid = self.creatives[cid].prompt_id
            if pid is not None:
                row = self.prompt_stats.setdefault(pid, [0.0, 0.0])
                row[0] += reward
                row[1] += 1
