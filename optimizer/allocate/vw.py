"""Vowpal Wabbit ``--cb_explore_adf`` as an allocation policy.

Shared namespace ``User`` holds the segment and the user's features; each action's namespace
``Action`` holds the creative id and its numeric features. ``-q UA`` crosses the two, without
which VW cannot personalise. VW returns the exploration distribution; the action is drawn with
the run's own generator and its probability goes into the label ``0:cost:prob``. Reward to cost
conversion (``cost = -reward``) happens here and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.base import Choice, Feedback, sample
from optimizer.allocate.registry import exploration_args
from optimizer.allocate.vw_file import load_workspace
from optimizer.errors import InputError
from optimizer.records import Context, Creative

_UNSAFE = re.compile(r"[\s|:]+")


def _token(value: object) -> str:
    return _UNSAFE.sub("_", str(value))


def shared_line(context: Context) -> str:
    parts = [f"segment={_token(context.segment)}"]
    for key, value in sorted(context.features.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"{_token(key)}:{float(value):.6g}")
        else:
            parts.append(f"{_token(key)}={_token(value)}")
    return "shared |User " + " ".join(parts)


def action_line(creative: Creative) -> str:
    parts = [f"creative={creative.id}"]
    parts += [f"{_token(k)}:{float(v):.6g}" for k, v in sorted(creative.features.items())]
    return "|Action " + " ".join(parts)


class VWPolicy:
    """Contextual bandit over creatives with Vowpal Wabbit's ``cb_explore_adf``."""

    name = "vw"

    def __init__(
        self,
        exploration: str = "squarecb",
        params: Mapping[str, float] | None = None,
        seed: int = 0,
        extra_args: Sequence[str] = (),
        _model: Path | None = None,
    ) -> None:
        from vowpalwabbit import pyvw

        self._pyvw = pyvw
        self.exploration = exploration
        self.params = dict(params or {})
        self.seed = seed
        self.updates = 0
        if _model is not None:
            self.args = ["--quiet", "-i", str(_model)]
            self.vw = load_workspace(_model)
        else:
            self.args = (
                ["--cb_explore_adf", "-q", "UA", "--quiet", "--random_seed", str(seed)]
                + exploration_args(exploration, self.params)
                + list(extra_args)
            )
            self.vw = pyvw.Workspace(arg_list=self.args)
        self._pending: dict[str, tuple[list, int, float]] = {}

    @property
    def version(self) -> str:
        return f"vw-{self.exploration}-{self.updates}"

    def _parse(self, context: Context, candidates: Sequence[Creative]) -> list:
        lines = [shared_line(context)] + [action_line(c) for c in candidates]
        return self.vw.parse(lines, self._pyvw.LabelType.CONTEXTUAL_BANDIT)

    def distribution(self, context: Context, candidates: Sequence[Creative]) -> list[float]:
        """VW's exploration distribution over ``candidates``, in their order."""
        examples = self._parse(context, candidates)
        try:
            return list(self.vw.predict(examples))
        finally:
            self.vw.finish_example(examples)

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        examples = self._parse(context, candidates)
        pmf = self.vw.predict(examples)
        choice = sample(pmf, rng)
        if event_id is None:
            self.vw.finish_example(examples)
        else:
            # keep the parsed examples so learn() only attaches the label (parse once)
            self._pending[event_id] = (examples, choice.index, choice.probability)
        return choice

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        for fb in feedbacks:
            pending = self._pending.pop(fb.event_id, None)
            if pending is None:
                raise KeyError(
                    f"decision {fb.event_id} was not made by this policy instance; "
                    "learning from logged decisions goes through the logged-data learner"
                )
            examples, index, prob = pending
            cost = -float(fb.reward)
            examples[index + 1].set_label_string(f"0:{cost}:{prob}")
            self.vw.learn(examples)
            self.vw.finish_example(examples)
            self.updates += 1

    def learn_logged(
        self,
        context: Context,
        candidates: Sequence[Creative],
        chosen: int,
        probability: float,
        reward: float,
    ) -> None:
        """Counterfactual learning from a decision another policy logged with ``probability``."""
        examples = self._parse(context, candidates)
        examples[chosen + 1].set_label_string(f"0:{-float(reward)}:{probability}")
        self.vw.learn(examples)
        self.vw.finish_example(examples)
        self.updates += 1

    def discard_pending(self) -> None:
        for examples, _, _ in self._pending.values():
            self.vw.finish_example(examples)
        self._pending.clear()

    def save(self, path: Path) -> None:
        path = Path(path)
        self.vw.save(str(path))
        meta = {
            "policy": "vw",
            "exploration": self.exploration,
            "params": self.params,
            "seed": self.seed,
            "updates": self.updates,
        }
        path.with_suffix(path.suffix + ".json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path) -> VWPolicy:
        path = Path(path)
        meta_path = path.with_suffix(path.suffix + ".json")
        try:
            meta = json.loads(meta_path.read_text())
            policy = cls(
                exploration=meta["exploration"],
                params=meta["params"],
                seed=int(meta["seed"]),
                _model=path,
            )
            policy.updates = int(meta["updates"])
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise InputError(
                f"{meta_path}: not the metadata of a saved VW policy ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'bad value'}); save it again"
            ) from None
        return policy
