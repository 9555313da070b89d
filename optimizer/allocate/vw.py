"""Vowpal Wabbit ``--cb_explore_adf`` as an allocation policy.

The user (segment ``S``, features ``U``) and each creative (id ``C``, text features ``T``)
are described in :mod:`optimizer.allocate.vw_lines`. The policy crosses them: ``SC`` (each
segment's own view of each creative), ``ST`` (what a segment makes of a creative's words,
call to action, numbers and length), ``UT`` (the same, moved by the user's features:
personalisation that transfers to similar and new creatives), ``SU`` (how likely this user
clicks at all, whatever the creative) and ``UC`` (each creative's own response to the
user's features). ``SU`` is the same for every candidate, so it never ranks them; it absorbs
the user's base rate, which the crossed terms otherwise learn in place of what tells the
creatives apart, because the creatives shown depend on the user. ``--ignore_linear CT``
drops the creative terms shared by all segments, which mostly mislead: segments disagree.

Learning: ``--coin`` (coin-betting, parameter-free per-weight step sizes) on the observed
rewards without importance weights (``--clip_p 1``): SquareCB wants a plain regression
oracle, and importance-weighted updates (weights up to 1/p) pulled the estimate of a rarely
shown creative to its last label, so good creatives were starved. The settings were chosen
by measurement (``benchmarks/allocation.py --sweep``; README, "Allocation").

Exploration: SquareCB, its distribution floored by a per-segment Thompson sampler's
(:mod:`optimizer.allocate.vw_hybrid`; on by default with SquareCB, ``thompson=None`` turns it
off), so a creative VW underestimates keeps being tried while the segment's evidence about it
is thin: SquareCB explores by the predicted gap and ignores the estimates' uncertainty.

VW returns the exploration distribution; the action is drawn with the run's own generator
and its probability goes into the label ``0:cost:prob``, as logged. Reward to cost
conversion (``cost = -reward``) happens here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.base import Choice, Feedback, sample
from optimizer.allocate.newcomers import Newcomers
from optimizer.allocate.registry import exploration_args
from optimizer.allocate.vw_file import load_workspace
from optimizer.allocate.vw_hybrid import SegmentThompson
from optimizer.allocate.vw_lines import FeatureScale, action_line, shared_line
from optimizer.errors import InputError
from optimizer.records import Context, Creative

__all__ = ["VWPolicy", "action_line", "shared_line", "FeatureScale"]

INTERACTIONS: tuple[str, ...] = ("SC", "ST", "UT", "SU", "UC")
LEARNING: tuple[str, ...] = ("--coin", "--clip_p", "1", "--ignore_linear", "CT")
FORMAT = 2  # of the example text; 1: "|User"/"|Action" with -q UA (before issue 13)


class VWPolicy:
    """Contextual bandit over creatives with Vowpal Wabbit's ``cb_explore_adf``."""

    name = "vw"

    def __init__(
        self,
        exploration: str = "squarecb",
        params: Mapping[str, float] | None = None,
        seed: int = 0,
        extra_args: Sequence[str] = (),
        interactions: Sequence[str] = INTERACTIONS,
        learning: Sequence[str] = LEARNING,
        scale: FeatureScale | None = None,
        newcomers: Newcomers | None = None,
        thompson: SegmentThompson | None | str = "default",
        _model: Path | None = None,
    ) -> None:
        from vowpalwabbit import pyvw

        self._pyvw = pyvw
        self.exploration = exploration
        self.params = dict(params or {})  # defaults: optimizer.allocate.registry.EXPLORATIONS
        self.seed = seed
        self.interactions = tuple(interactions)
        self.learning = tuple(learning)
        self.scale = scale or FeatureScale()
        self.newcomers = newcomers or Newcomers()
        if isinstance(thompson, str):  # "default": the floor under SquareCB
            if thompson != "default":
                raise ValueError(f"thompson: a SegmentThompson, None or 'default': {thompson!r}")
            thompson = thompson_floor(seed) if exploration == "squarecb" else None
        self.thompson = thompson  # None: VW's distribution as it is
        self.updates = 0
        if _model is not None:
            self.args = ["--quiet", "-i", str(_model)]
            self.vw = load_workspace(_model)
        else:
            self.args = (
                ["--cb_explore_adf", "--quiet", "--random_seed", str(seed)]
                + [arg for q in self.interactions for arg in ("--interactions", q)]
                + list(self.learning)
                + exploration_args(exploration, self.params)
                + list(extra_args)
            )
            self.vw = pyvw.Workspace(arg_list=self.args)
        self._pending: dict[str, tuple[list, int, float, Context, str]] = {}
        self._actions: dict[str, tuple[Mapping[str, float], str]] = {}

    @property
    def version(self) -> str:
        return f"vw-{self.exploration}-{self.updates}"

    def _action(self, creative: Creative) -> str:
        hit = self._actions.get(creative.id)
        if hit is None or (hit[0] is not creative.features and hit[0] != creative.features):
            hit = self._actions[creative.id] = (creative.features, action_line(creative))
        return hit[1]

    def lines(self, context: Context, candidates: Sequence[Creative]) -> list[str]:
        """The example text of a decision, as this policy sees it now."""
        return [shared_line(context, self.scale)] + [self._action(c) for c in candidates]

    def _parse(self, context: Context, candidates: Sequence[Creative]) -> list:
        return self.vw.parse(
            self.lines(context, candidates), self._pyvw.LabelType.CONTEXTUAL_BANDIT
        )

    def distribution(self, context: Context, candidates: Sequence[Creative]) -> list[float]:
        """The exploration distribution over ``candidates``, in their order: VW's, with
        newcomers on trial lifted (:mod:`optimizer.allocate.newcomers`)."""
        examples = self._parse(context, candidates)
        try:
            pmf = self.vw.predict(examples)
        finally:
            self.vw.finish_example(examples)
        return self._adjust(context.segment, [c.id for c in candidates], pmf).tolist()

    def _adjust(self, segment: str, ids: Sequence[str], pmf: Sequence[float]) -> np.ndarray:
        """VW's ``pmf`` floored by the segment's Thompson probabilities, then newcomers on
        trial lifted: the distribution sampled and logged."""
        if self.thompson is not None:
            pmf = self.thompson.adjust(segment, ids, pmf)
        return self.newcomers.adjust(segment, ids, pmf)

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        examples = self._parse(context, candidates)
        ids = [c.id for c in candidates]
        self.newcomers.offered(context.segment, ids)
        choice = sample(self._adjust(context.segment, ids, self.vw.predict(examples)), rng)
        if event_id is None:
            self.vw.finish_example(examples)
        else:
            # keep the parsed examples so learn() only attaches the label (parse once)
            chosen = ids[choice.index]
            self._pending[event_id] = (examples, choice.index, choice.probability, context, chosen)
        return choice

    def _learn(self, examples: list, index: int, probability: float, reward: float) -> None:
        examples[index + 1].set_label_string(f"0:{-float(reward)}:{probability}")
        self.vw.learn(examples)
        self.vw.finish_example(examples)
        self.updates += 1

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        for fb in feedbacks:
            pending = self._pending.pop(fb.event_id, None)
            if pending is None:
                raise KeyError(
                    f"decision {fb.event_id} was not made by this policy instance; "
                    "learning from logged decisions goes through the logged-data learner"
                )
            examples, index, prob, context, chosen = pending
            self._learn(examples, index, prob, fb.reward)
            self.note(context, (), chosen, fb.reward)  # choose() noted the candidates

    def learn_logged(
        self,
        context: Context,
        candidates: Sequence[Creative],
        chosen: int,
        probability: float,
        reward: float,
    ) -> None:
        """Counterfactual learning from a decision another policy logged with ``probability``."""
        self._learn(self._parse(context, candidates), chosen, probability, reward)
        self.note(context, [c.id for c in candidates], candidates[chosen].id, reward)

    def note(
        self,
        context: Context,
        candidates: Sequence[str],
        chosen: str,
        reward: float | None = None,
    ) -> None:
        """What learning one event changes besides VW's weights: the feature scale (after the
        event's own example was written), the newcomers' trial state and, given the reward,
        the segment's Thompson counts. A learner that feeds VW the example text itself calls
        this after each event, in order."""
        self.newcomers.offered(context.segment, candidates)
        self.scale.observe(context.features)
        self.newcomers.learned(context.segment, chosen)
        if reward is not None and self.thompson is not None:
            self.thompson.learned(context.segment, chosen, reward)

    def discard_pending(self) -> None:
        for examples, *_ in self._pending.values():
            self.vw.finish_example(examples)
        self._pending.clear()

    def save(self, path: Path) -> None:
        path = Path(path)
        self.vw.save(str(path))
        meta = {
            "policy": "vw",
            "format": FORMAT,
            "exploration": self.exploration,
            "params": self.params,
            "seed": self.seed,
            "updates": self.updates,
            "interactions": list(self.interactions),
            "learning": list(self.learning),
            "scale": self.scale.to_json(),
            "newcomers": self.newcomers.to_json(),
            "thompson": self.thompson.to_json() if self.thompson is not None else None,
        }
        path.with_suffix(path.suffix + ".json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path) -> VWPolicy:
        path = Path(path)
        meta_path = path.with_suffix(path.suffix + ".json")
        try:
            meta = json.loads(meta_path.read_text())
            fmt = meta.get("format", 1) if isinstance(meta, dict) else None
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            fmt = None
        if fmt is not None and fmt != FORMAT:
            raise InputError(
                f"{meta_path}: a VW policy saved by an earlier version (example format {fmt}, "
                f"this version reads {FORMAT}); retrain it with 'learn' or a new run"
            )
        try:
            meta = json.loads(meta_path.read_text())
            policy = cls(
                exploration=meta["exploration"],
                params=meta["params"],
                seed=int(meta["seed"]),
                interactions=meta["interactions"],
                learning=meta["learning"],
                scale=FeatureScale.from_json(meta["scale"]),
                newcomers=Newcomers.from_json(meta["newcomers"]),
                thompson=restore_thompson(meta.get("thompson"), int(meta["seed"])),
                _model=path,
            )
            policy.updates = int(meta["updates"])
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise InputError(
                f"{meta_path}: not the metadata of a saved VW policy ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'bad value'}); save it again"
            ) from None
        return policy


def thompson_floor(seed: int, **settings: float) -> SegmentThompson:
    """A Thompson floor for ``VWPolicy(thompson=...)`` on its own stream of the policy's seed
    (VW's draws and the decisions' do not touch it)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return SegmentThompson(**settings, rng=rng)


def restore_thompson(data: Mapping | None, seed: int) -> SegmentThompson | None:
    """The saved Thompson floor (its generator's state restored), or None."""
    return None if data is None else SegmentThompson.from_json(data, thompson_floor(seed).rng)
