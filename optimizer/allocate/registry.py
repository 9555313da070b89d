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
    "thompson": "optimizer.allocate.baselines:ThompsonPolicy",
    "uniform": "optimizer.allocate.baselines:UniformPolicy",
}

# VW exploration name -> (flag, {parameter: (vw option, default)}).
# cb_explore_adf algorithms that return a proper distribution (checked in tests).
EXPLORATIONS: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    "squarecb": ("--squarecb", {"gamma_scale": ("--gamma_scale", 10.0)}),
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
}


def unknown(kind: str, name: str, valid: Mapping[str, Any]) -> str:
    return f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}"


def param_problem(exploration: str, key: str, value: float) -> str | None:
    """What is wrong with ``value`` for parameter ``key`` of ``exploration``, or None."""
    low, high, whole = PARAM_RANGES[key]
    default = EXPLORATIONS[exploration][1][key][1]
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
    if name not in POLICIES:
        raise ValueError(unknown("policy", name, POLICIES))
    module_name, attr = POLICIES[name].split(":")
    import importlib

    return getattr(importlib.import_module(module_name), attr)
