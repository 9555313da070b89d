"""ingest -> learn -> evaluate from the command line, checked against the simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from optimizer.offline import simulate_logs
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def logged(tmp_path_factory, example_cfg):
    tmp = tmp_path_factory.mktemp("offline")
    data = yaml.safe_load(EXAMPLE.read_text())
    data["database_url"] = f"sqlite:///{tmp}/o.db"
    config = tmp / "campaign.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    rows, _ = simulate_logs(example_cfg, 12_000, seed=5, epsilon=1.0)
    log = tmp / "log.jsonl"
    with log.open("w") as f:
        for i, row in enumerate(rows):
            f.write("{not json\n" if i % 100 == 7 else json.dumps(row) + "\n")
    return tmp, config, log


def test_ingest_learn_evaluate(logged, example_cfg):
    tmp, config, log = logged
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(log), "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["read"] == 12_000 and report["quarantined"] == 120
    assert report["decisions"] == report["rewards"] == 11_880
    again = json.loads(
        runner.invoke(main, ["ingest", str(log), "-c", str(config), "--json"]).output
    )[0]
    assert (again["stored"], again["duplicates"], again["quarantined"]) == (0, 23_760, 120)

    learned = runner.invoke(
        main,
        [
            "learn",
            "-c",
            str(config),
            "--test-share",
            "0.3",
            "--state-dir",
            str(tmp / "state"),
            "--json",
        ],
    )
    assert learned.exit_code == 0, learned.output
    info = json.loads(learned.output)
    assert info["train_events"] == round(11_880 * 0.7)

    static = tmp / "static.json"
    static.write_text(json.dumps({info["version"]: 1.0}))
    evaluated = runner.invoke(
        main,
        [
            "evaluate",
            "-c",
            str(config),
            "--target",
            "uniform",
            "--target",
            f"policy:{info['version']}",
            "--target",
            f"static:{static}",
            "--test-share",
            "0.3",
            "--ci",
            "normal",
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output)
    assert result["events"] == 11_880 - round(11_880 * 0.7)
    rows = {r["target"]: r for r in result["targets"]}
    uniform, policy = rows["uniform"], rows[f"policy:{info['version']}"]
    # uniform is the logging policy: IPS equals the observed mean of the test split
    assert uniform["estimates"]["ips"]["value"] == pytest.approx(
        result["logged_mean_reward"], abs=1e-6
    )
    for est in ("ips", "snips", "dm", "dr"):
        e = policy["estimates"][est]
        assert e["low"] <= e["value"] <= e["high"]
    # the static file names no real creative: every event is uncovered and served uniformly
    assert rows[f"static:{static}"]["diagnostics"]["uncovered_events"] == result["events"]

    human = runner.invoke(main, ["evaluate", "-c", str(config), "--target", "uniform"])
    assert human.exit_code == 0 and "estimated mean reward" in human.output


def test_the_learned_policy_beats_uniform_in_truth(logged, example_cfg):
    """Ground truth: serve the learned policy's distribution to fresh simulated users."""
    from optimizer.allocate.vw import VWPolicy
    from optimizer.generate import seed_creatives
    from optimizer.records import Creative
    from optimizer.store import Store
    from simulators.audience import AudienceSimulator

    tmp, config, _ = logged
    store = Store(f"sqlite:///{tmp}/o.db")
    (row,) = [p for p in store.policies(example_cfg.name) if p.source == "logs"]
    policy = VWPolicy.load(row.path)
    sim = AudienceSimulator(example_cfg, np.random.default_rng(5))
    pool = seed_creatives(example_cfg)
    ids = [Creative(id=c.id, campaign="", headline=c.id, body="", cta="") for c in pool]
    learned, uniform = [], []
    for ctx in sim.draw_contexts(2_000, np.random.default_rng(99)):
        truth = sim.expected_rewards(ctx, pool)
        learned.append(float(np.asarray(policy.distribution(ctx, ids)) @ truth))
        uniform.append(float(truth.mean()))
    assert np.mean(learned) > 1.2 * np.mean(uniform)


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["evaluate", "--campaign", "stride-spring", "--target", "greedy"],
            "Error: target 'greedy': use uniform, static:FILE",
        ),
        (
            ["evaluate", "--campaign", "stride-spring", "--target", "policy:nope"],
            "Error: no stored policy 'nope'",
        ),
        (
            ["evaluate", "--campaign", "stride-spring", "--target", "static:missing.csv"],
            "Error: missing.csv: no such file",
        ),
    ],
)
def test_bad_targets_and_files(logged, args, message):
    tmp, config, _ = logged
    result = CliRunner().invoke(main, [*args, "--db", f"sqlite:///{tmp}/o.db"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(message)
    missing = CliRunner().invoke(main, ["ingest", "missing.jsonl", "--db", f"sqlite:///{tmp}/o.db"])
    assert missing.exit_code == 2 and "File 'missing.jsonl' does not exist" in missing.output


def test_a_garbage_model_file_is_a_one_line_error(logged):
    tmp, config, _ = logged
    garbage = tmp / "garbage.vw"
    garbage.write_text("not a model\n")
    (tmp / "garbage.vw.json").write_text('{"policy": "vw"}')
    result = CliRunner().invoke(
        main, ["evaluate", "-c", str(config), "--target", f"policy:{garbage}"]
    )
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: target 'policy:{garbage}': {garbage} is not a Vowpal Wabbit model; give a "
        "stored policy version or the path of a model file saved by learn or run (with its "
        ".json beside it)\n"
    )
