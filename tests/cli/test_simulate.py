"""`simulate --arms-csv`: real tests carry no user features, so the default policy is
Thompson sampling; `--scorer VERSION --db URL` gives every arm a text prior."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli import main
from optimizer.observe.ingest import ingest_file
from optimizer.scorer import fit_and_register
from optimizer.store import Store
from tests.scorer.synthetic import HOOKS, SUBJECTS, ad_group_table
from tests.scorer.test_registry import write_report


def write_arms(path, rng: np.random.Generator, tests: int = 6) -> dict[tuple[str, str], float]:
    """Tests of hooks on subjects the scorer never saw; arms' truths are level x multiplier."""
    truth = {}
    lines = ["segment,creative_id,headline,ctr\n"]
    for t in range(tests):
        subject = SUBJECTS[(t + 5) % len(SUBJECTS)]
        level = 0.02 * float(np.exp(0.3 * rng.standard_normal()))
        for k, (hook, lift) in enumerate(HOOKS.items()):
            truth[(f"t{t}", f"a{k}")] = level * lift
            lines.append(f"t{t},a{k},{subject}: {hook},{level * lift:.5f}\n")
    path.write_text("".join(lines))
    return truth


def simulate(runner, *args: str) -> dict:
    result = runner.invoke(main, ["simulate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_auto_is_thompson_sampling_on_tests_without_user_features(runner, tmp_path):
    write_arms(tmp_path / "arms.csv", np.random.default_rng(1))
    out = simulate(runner, "--arms-csv", str(tmp_path / "arms.csv"), "-n", "3000", "--seed", "2")
    assert out["policy"]["name"] == "thompson"
    assert out["policy"]["clicks"] > out["uniform"]["clicks"] * 0.9  # learns, at worst ties


@pytest.mark.slow
def test_a_text_prior_from_a_stored_scorer_sends_early_traffic_to_the_better_copy(
    runner, tmp_path, example_cfg
):
    db = f"sqlite:///{tmp_path}/store.db"
    store = Store(db)
    store.save_campaign(example_cfg)
    write_report(tmp_path / "report.csv", ad_group_table(np.random.default_rng(7), groups=12))
    ingest_file(store, tmp_path / "report.csv")
    version = fit_and_register(store, "stride-spring", tmp_path / "state", seed=1).version
    write_arms(tmp_path / "arms.csv", np.random.default_rng(3))
    common = ["--arms-csv", str(tmp_path / "arms.csv"), "-n", "1500", "--batch-size", "500"]
    gains = []
    for seed in ("4", "5", "6"):
        flat = simulate(runner, *common, "--seed", seed)
        primed = simulate(runner, *common, "--seed", seed, "--scorer", version, "--db", db)
        assert primed["run_id"] != flat["run_id"]
        gains.append(primed["policy"]["expected_ctr"] - flat["policy"]["expected_ctr"])
    # with 1,500 impressions over 6 tests of 7 arms, the prior is most of what the policy knows
    assert np.mean(gains) > 0


def test_scorer_version_must_be_a_scorer(runner, tmp_path, example_cfg):
    db = f"sqlite:///{tmp_path}/store.db"
    Store(db).save_campaign(example_cfg)
    write_arms(tmp_path / "arms.csv", np.random.default_rng(1), tests=1)
    result = runner.invoke(
        main,
        ["simulate", "--arms-csv", str(tmp_path / "arms.csv"), "--scorer", "nope", "--db", db],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: no stored policy 'nope'")
    assert len(result.output.splitlines()) == 1
