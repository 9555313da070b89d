"""Policies and exploration algorithms by name, so a config can name them by string.

Kept free of heavy imports: the config validator and ``--help`` read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# name -> "module:attribute" of the class, imported on first use.
POLICIES: dict[str, str] = {
    "vw": "optimizer.allocate.vw:VWPolicy",
    "thompson": "optimizer.allocate.thompson:ThompsonPolicy",
    "top-two": "optimizer.allocate.thompson:ThompsonPolicy",
    "ucb1": "optimizer.allocate.ucb:UCB1Policy",
    "uniform": "optimizer.allocate.baselines:UniformPolicy",
}

# Not a class: resolved per campaign by ``optimizer.allocate.resolve.resolve_policy`` (no user
# features -> Thompson sampling, user features -> vw).
AUTO = "auto"

# Parameters of the policies other than vw (whose parameters are its exploration's) and their
# defaults; ``allocation.params`` of a campaign names them.
POLICY_PARAMS: dict[str, dict[str, float]] = {
    "thompson": {"sharpness": 1.0, "draws": 256, "sharpen_every": math.inf},
    "top-two": {"sharpness": 1.0, "draws": 256, "leader": 0.5},
    "ucb1": {"epsilon": 0.01},
    "uniform": {},
}

# VW exploration name -> (flag, {parameter: (vw option, default)}).
# cb_explore_adf algorithms that return a proper distribution (checked in tests). squarecb's
# gamma_scale 30 was chosen over seeds 1-6 of the example campaign (benchmarks/allocation.py
# --sweep; README "Allocation").
EXPLORATIONS: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    "squarecb": ("--squarecb", {"gamma_scale": ("--gamma_scale", 30.0)}),
    "epsilon": ("--epsilon", {"epsilon": ("--epsilon", 0.05)}),
    "softmax": ("--softmax", {"lambda": ("--lambda", 10.0)}),
    "bag": ("--bag", {"size": ("--bag", 5)}),
    "cover": ("--cover", {"size": ("--cover", 4)}),
}

# Exploration parameter -> (lowest, highest, whole number): the values the config accepts.
# A real parameter must lie in (lowest, highest]; a whole number in [lowest, highest].
PARAM_RANGES: dict[str, tuple[float, float, bool]] = {
    "gamma_scale": (0.0, math.inf, False),
    "epsilon": (0.0, 1.0, False),
    "lambda": (0.0, math.inf, False),
    "size": (1.0, math.inf, True),
    # Thompson sampling (POLICY_PARAMS)
    "sharpness": (0.0, math.inf, False),
    "draws": (16.0, 100_000.0, True),
    "sharpen_every": (0.0, math.inf, False),
    "leader": (0.0, 1.0, False),
}


def unknown(kind: str, name: str, valid: Mapping[str, Any]) -> str:
    return f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}"


def param_problem(exploration: str, key: str, value: float) -> str | None:
    """What is wrong with ``value`` for parameter ``key`` of ``exploration``, or None."""
    return _range_problem(key, value, EXPLORATIONS[exploration][1][key][1])


def policy_param_problem(policy: str, key: str, value: float) -> str | None:
    """What is wrong with parameter ``key`` of a policy other than vw, or None."""
    spec = POLICY_PARAMS[policy]
    if key not in spec:
        takes = ", ".join(sorted(spec)) or "no parameters"
        return f"policy {policy!r} takes {takes}; remove {key!r}"
    return _range_problem(key, value, spec[key])


def policy_params(policy: str, params: Mapping[str, float]) -> dict[str, float]:
    """The parameters of ``policy`` (not vw): defaults overridden by ``params``, checked."""
    problems = [f"{k}: {p}" for k, v in params.items() if (p := policy_param_problem(policy, k, v))]
    if problems:
        raise ValueError("; ".join(problems))
    return {**POLICY_PARAMS[policy], **params}


def _range_problem(key: str, value: float, default: float) -> str | None:
    low, high, whole = PARAM_RANGES[key]
    top = f" and at most {high:g}" if math.isfinite(high) else ""
    if whole:
        ok = math.isfinite(value) and value == int(value) and low <= value <= high
        wanted = f"a whole number of at least {low:g}{top}"
    else:
        ok = math.isfinite(value) and low < value <= high
        wanted = f"a number above {low:g}{top}"
    return None if ok else f"must be {wanted} (got {value!r}); the default is {default:g}"


def exploration_args(name: str, params: Mapping[str, float]) -> list[str]:
    """VW command-line arguments for exploration ``name`` with ``params``."""
    if name not in EXPLORATIONS:
        raise ValueError(unknown("exploration", name, EXPLORATIONS))
    flag, spec = EXPLORATIONS[name]
    extra = set(params) - set(spec)
    if extra:
        raise ValueError(
            f"exploration {name!r} takes {', '.join(sorted(spec)) or 'no parameters'}; "
            f"got {', '.join(sorted(extra))}"
        )
    args: list[str] = []
    if flag not in {option for option, _ in spec.values()}:
        args.append(flag)
    for key, (option, default) in spec.items():
        value = params.get(key, default)
        args += [option, str(int(value)) if isinstance(default, int) else str(float(value))]
    return args


def load_policy_class(name: str) -> type:
    if name == AUTO:
        raise ValueError(
            "policy 'auto' names no class; resolve it first with "
            "optimizer.allocate.resolve.resolve_policy"
        )
    if name not in POLICIES:
        raise ValueError(unknown("policy", name, POLICIES))
    module_name, attr = POLICIES[name].split(":")
    import importlib

    return getattr(importlib.import_module(module_name), attr)
