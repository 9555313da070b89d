"""Checkpoints of a campaign played in rounds: ``round-NNN/`` holds ``state.json`` and the
policy's model (``policy.<name>``, in the policy's own format).

A checkpoint is written after its round is committed to the store, into a hidden temporary
folder that is renamed into place when complete: a folder named ``round-NNN`` is whole, and
a killed run leaves at most a ``.round-NNN.tmp`` that resuming ignores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from optimizer.allocate import Policy
from optimizer.allocate.registry import load_policy_class
from optimizer.records import Creative
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.metrics import InitialPool, RoundMetrics
from optimizer.refresh.prompts import PromptArm
from optimizer.refresh.state import State


def state_to_json(state: State) -> dict:
    return {
        "round": state.round,
        "policy": state.policy,
        "creatives": {k: dataclasses.asdict(v) for k, v in state.creatives.items()},
        "pool": state.pool,
        "stats": state.stats.data,
        "prompts": [p.as_dict() for p in state.prompts],
        "prompt_stats": state.prompt_stats,
        "simulator": state.simulator,
        "generator": state.generator,
        "operators": state.operators,
        "made": state.made,
        "history": [state.initial.to_json()] + [m.to_json() for m in state.history],
    }


def state_from_json(d: dict) -> State:
    initial, *rounds = d["history"]
    return State(
        round=d["round"],
        policy=d.get("policy", "vw"),  # checkpoints before the policy was recorded: VW
        creatives={k: Creative(**v) for k, v in d["creatives"].items()},
        pool=d["pool"],
        stats=CreativeStats(d["stats"]),
        prompts=[PromptArm(**p) for p in d["prompts"]],
        prompt_stats=d["prompt_stats"],
        simulator=d["simulator"],
        generator=d["generator"],
        initial=InitialPool.from_json(initial),
        history=[RoundMetrics.from_json(m) for m in rounds],
        operators=d.get("operators", {}),  # checkpoints before the operator bandit: none
        made=d.get("made", {}),
    )


def write(folder: Path, state: State, policy: Policy) -> Path:
    """Write round ``state.round`` atomically; returns its folder."""
    final = folder / f"round-{state.round:03d}"
    tmp = folder / f".round-{state.round:03d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save(tmp / f"policy.{state.policy}")  # type: ignore[attr-defined]
    with (tmp / "state.json").open("w") as f:
        json.dump(state_to_json(state), f)
        f.flush()
        os.fsync(f.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def latest(folder: Path) -> Path | None:
    """The last complete checkpoint in ``folder``, or None."""
    done = sorted(p for p in folder.glob("round-*") if (p / "state.json").exists())
    return done[-1] if done else None


def read(path: Path) -> tuple[State, Policy]:
    """The state and the policy of checkpoint ``path``; the policy's class comes from the
    registry by the name the state records."""
    state = state_from_json(json.loads((path / "state.json").read_text()))
    policy = load_policy_class(state.policy).load(path / f"policy.{state.policy}")
    return state, policy
