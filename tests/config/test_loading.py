from __future__ import annotations

import pytest
import yaml

from optimizer.config import apply_overrides, load_config, parse_config
from optimizer.errors import ConfigError
from tests.config.edit import DELETE, mutate


def test_example_is_valid_and_rich_enough(example_cfg):
    assert len(example_cfg.segments) >= 4
    assert len(example_cfg.seed_creatives) >= 8
    assert example_cfg.headline_limit == 30 and example_cfg.body_limit == 90
    assert abs(sum(s.share for s in example_cfg.segments) - 1) < 1e-9


BAD = [
    (("colour",), "red", r"^src: colour: unknown key; remove it"),
    (
        ("segments", 0, "share"),
        "a lot",
        r"^src: segments\[0\]\.share: Input should be a valid number",
    ),
    (("segments", 0, "share"), 0.9, r"^src: segments: traffic shares sum to 1\.65, not 1"),
    (
        ("seed_creatives", 0, "headline"),
        "A headline far too long for search ads",
        r"^src: seed_creatives\[0\]\.headline: 38 characters, over the 30-character limit of "
        r"placement 'search'; shorten it",
    ),
    (
        ("seed_creatives", 1, "cta"),
        "Buy!!",
        r"^src: seed_creatives\[1\]\.cta: 'Buy!!' is not an allowed",
    ),
    (
        ("allocation", "policy"),
        "greedy",
        r"^src: allocation\.policy: unknown policy 'greedy'; "
        r"valid names: auto, thompson, top-two, ucb1, uniform, vw",
    ),
    (("allocation", "exploration"), "ucb", r"^src: allocation\.exploration: unknown exploration"),
    (
        ("allocation", "params"),
        {"gamma": 3},
        r"^src: allocation\.params\.gamma: exploration 'squarecb' takes gamma_scale; "
        r"remove 'gamma'",
    ),
    (("product",), DELETE, r"^src: product: required field is missing; add it"),
    (
        ("segments", 1, "features", "age", "sd"),
        -1,
        r"^src: segments\[1\]\.features\.age\.sd: Input should be greater than 0",
    ),
    (
        ("segments", 1, "features", "age", "type"),
        "gaussian",
        r"^src: segments\[1\]\.features\.age: feature type must be one of",
    ),
    (
        ("simulator", "segments", "marathoners", "tastes"),
        {"luck": 1.0},
        r"^src: simulator\.segments\.marathoners\.tastes\.luck: unknown angle 'luck'",
    ),
    (("seed",), -3, r"^src: seed: Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize("path,value,pattern", BAD)
def test_bad_config_names_field_and_fix(example_data, path, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_config(mutate(example_data, path, value), "src")


def test_error_is_one_line_and_counts_the_rest(example_data):
    data = mutate(example_data, ("colour",), "red")
    data["flavour"] = "x"
    with pytest.raises(ConfigError) as info:
        parse_config(data, "src")
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("(+1 more problems)")


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nproduct: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+: invalid YAML"):
        load_config(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: \(file\): no such file"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_take_precedence_and_are_validated(example_cfg):
    cfg = apply_overrides(example_cfg, seed=99, policy="thompson", database_url="sqlite://")
    assert (cfg.seed, cfg.allocation.policy, cfg.database_url) == (99, "thompson", "sqlite://")
    assert apply_overrides(example_cfg).seed == example_cfg.seed
    with pytest.raises(ConfigError, match="allocation.policy"):
        apply_overrides(example_cfg, policy="nope")


def test_config_hash_ignores_run_settings(example_cfg):
    assert apply_overrides(example_cfg, seed=1).config_hash() == example_cfg.config_hash()
    data = yaml.safe_load(yaml.safe_dump(example_cfg.model_dump(mode="json")))
    data["brief"] += " More."
    assert parse_config(data).config_hash() != example_cfg.config_hash()
