"""Configs that `validate` used to accept and `run` then crashed on, after writing rows."""

from __future__ import annotations

import math
import re

import pytest
import yaml
from click.testing import CliRunner

from optimizer.config import apply_overrides, parse_config
from optimizer.errors import ConfigError
from tests.config.edit import DELETE, mutate

SEGMENTS = "marathoners, trail_runners, beginners, bargain_hunters, eco_commuters"
NO_SEED_CREATIVE = (
    "src: seed_creatives: no seed creative serves segment(s) {}; add one without a 'segment' "
    "(it serves every segment) or one with 'segment' set to each of them"
)


def _alloc(exploration: str, **params: float) -> dict:
    return {"policy": "vw", "exploration": exploration, "params": params, "batch_size": 1}


def _one_for(segment: str) -> list[dict]:
    return [{"headline": "Run more", "body": "", "cta": "Shop now", "segment": segment}]


INVALID = [
    (
        ("seed",),
        10**30,
        f"src: seed: {10**30} is too large; use a whole number from 0 to 4294967295",
    ),
    (
        ("seed",),
        2**32,
        "src: seed: 4294967296 is too large; use a whole number from 0 to 4294967295",
    ),
    (
        ("allocation",),
        _alloc("squarecb", gamma_scale=-10),
        "src: allocation.params.gamma_scale: must be a number above 0 (got -10.0); "
        "the default is 30",
    ),
    (
        ("allocation",),
        _alloc("squarecb", gamma_scale=0),
        "src: allocation.params.gamma_scale: must be a number above 0 (got 0.0); the default is 30",
    ),
    (
        ("allocation",),
        _alloc("squarecb", gamma_scale=math.inf),
        "src: allocation.params.gamma_scale: must be a number above 0 (got inf); the default is 30",
    ),
    (
        ("allocation",),
        _alloc("epsilon", epsilon=1.5),
        "src: allocation.params.epsilon: must be a number above 0 and at most 1 (got 1.5); "
        "the default is 0.05",
    ),
    (
        ("allocation",),
        _alloc("epsilon", epsilon=0),
        "src: allocation.params.epsilon: must be a number above 0 and at most 1 (got 0.0); "
        "the default is 0.05",
    ),
    (
        ("allocation",),
        _alloc("softmax", **{"lambda": -1}),
        "src: allocation.params.lambda: must be a number above 0 (got -1.0); the default is 10",
    ),
    (
        ("allocation",),
        _alloc("bag", size=0),
        "src: allocation.params.size: must be a whole number of at least 1 (got 0.0); "
        "the default is 5",
    ),
    (
        ("allocation",),
        _alloc("cover", size=2.5),
        "src: allocation.params.size: must be a whole number of at least 1 (got 2.5); "
        "the default is 4",
    ),
    (("seed_creatives",), [], NO_SEED_CREATIVE.format(SEGMENTS)),
    (("seed_creatives",), DELETE, NO_SEED_CREATIVE.format(SEGMENTS)),
    (
        ("seed_creatives",),
        _one_for("marathoners"),
        NO_SEED_CREATIVE.format("trail_runners, beginners, bargain_hunters, eco_commuters"),
    ),
]


@pytest.mark.parametrize("path,value,message", INVALID)
def test_invalid_config_says_what_where_and_how(example_data, path, value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_config(mutate(example_data, path, value), "src")


VALID_EDGES = [
    (("seed",), 2**32 - 1),
    (("allocation",), _alloc("epsilon", epsilon=1)),
    (("allocation",), _alloc("bag", size=1)),
    (("allocation",), _alloc("softmax", **{"lambda": 0.5})),
    (
        ("seed_creatives",),
        [c for s in SEGMENTS.split(", ") for c in _one_for(s)],
    ),
]


@pytest.mark.parametrize("path,value", VALID_EDGES)
def test_edges_of_the_ranges_are_accepted(example_data, path, value):
    cfg = parse_config(mutate(example_data, path, value), "src")
    node = cfg.model_dump()
    for key in path:
        node = node[key]
    assert node == value


def test_every_exploration_parameter_has_a_range_its_default_meets():
    from optimizer.allocate.registry import EXPLORATIONS, PARAM_RANGES, param_problem

    for name, (_, spec) in EXPLORATIONS.items():
        for key, (_, default) in spec.items():
            assert key in PARAM_RANGES
            assert param_problem(name, key, default) is None
            assert param_problem(name, key, -1.0) is not None


def test_a_seed_flag_out_of_range_is_refused(example_cfg):
    with pytest.raises(ConfigError, match=r"^<command line>: seed: 4294967296 is too large"):
        apply_overrides(example_cfg, seed=2**32)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("seed_creatives", [], NO_SEED_CREATIVE.format(SEGMENTS)[len("src: ") :]),
        (
            "allocation",
            _alloc("squarecb", gamma_scale=-10),
            "allocation.params.gamma_scale: must be a number above 0 (got -10.0); "
            "the default is 30",
        ),
    ],
)
def test_validate_and_run_refuse_before_writing(example_data, tmp_path, field, value, message):
    from cli import main

    db = tmp_path / "o.db"
    data = {**example_data, field: value, "database_url": f"sqlite:///{db}"}
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "-c", str(config)])
    assert (result.exit_code, result.output) == (1, f"Error: {config}: {message}\n")
    ran = runner.invoke(
        main, ["run", "-c", str(config), "-n", "10", "--no-generate", "--no-screen"]
    )
    assert (ran.exit_code, ran.output) == (1, f"Error: {config}: {message}\n")
    assert not db.exists()
