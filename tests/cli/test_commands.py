"""The command line: exit codes, exact error lines, JSON keys, nothing written on bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from cli import main
from tests.cli.conftest import write_config
from tests.conftest import EXAMPLE

COMMANDS = [
    [],
    ["run"],
    ["simulate"],
    ["validate"],
    ["generate"],
    ["screen"],
    ["campaign"],
    ["campaign", "show"],
    ["creatives"],
    ["creatives", "list"],
    ["ingest"],
    ["learn"],
    ["evaluate"],
    ["report"],
    ["scorer"],
    ["scorer", "fit"],
    ["scorer", "predict"],
]
FAST = ["--no-generate", "--no-screen"]  # the LLM and filters have their own tests


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_everywhere(runner, command):
    for flag in ("--help", "-h"):
        result = runner.invoke(main, [*command, flag])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_run_json_summary_and_store(runner, tmp_path):
    config = write_config(tmp_path)
    result = runner.invoke(
        main,
        [
            "run",
            "-c",
            str(config),
            "-n",
            "800",
            "--seed",
            "3",
            "--json",
            *FAST,
            "--state-dir",
            str(tmp_path / "state"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    for key in ("policy", "uniform", "oracle"):
        assert {"impressions", "clicks", "ctr"} <= set(summary[key])
        assert summary[key]["impressions"] == 800
    assert isinstance(summary["regret"], float) and set(summary["segments"]) == {
        "marathoners",
        "trail_runners",
        "beginners",
        "bargain_hunters",
        "eco_commuters",
    }
    assert summary["seed"] == 3

    shown = runner.invoke(main, ["campaign", "show", "-c", str(config), "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["events"] == {"decisions": 800, "rewards": 800}
    assert info["runs"][0]["status"] == "done" and info["creatives"]["active"] == 12

    listed = runner.invoke(main, ["creatives", "list", "-c", str(config), "--json"])
    rows = json.loads(listed.output)
    assert len(rows) == 12 and sum(r["impressions"] for r in rows) == 800

    table = runner.invoke(main, ["creatives", "list", "-c", str(config)])
    assert table.exit_code == 0 and "Chase your next PR" in table.output
    shown = runner.invoke(main, ["campaign", "show", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "events: 800 decisions, 800 rewards" in shown.output


def test_a_run_logs_what_evaluate_reads(runner, tmp_path):
    """The decisions a run stores (with their probabilities) feed off-policy evaluation,
    and the run's VW policy is a stored version."""
    config = write_config(tmp_path)
    summary = json.loads(
        runner.invoke(
            main,
            [
                "run",
                "-c",
                str(config),
                "-n",
                "1500",
                "--json",
                "--state-dir",
                str(tmp_path / "s"),
                *FAST,
            ],
        ).output
    )
    version = summary["policy_version"]
    result = runner.invoke(
        main,
        [
            "evaluate",
            "-c",
            str(config),
            "--target",
            "uniform",
            "--target",
            f"policy:{version}",
            "--ci",
            "normal",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.output)
    assert evaluation["events"] == 1500
    assert evaluation["logged_mean_reward"] == pytest.approx(summary["policy"]["ctr"], abs=1e-6)
    names = [t["target"] for t in evaluation["targets"]]
    assert names == ["uniform", f"policy:{version}"]


def test_run_human_summary(runner, tmp_path):
    config = write_config(tmp_path)
    result = runner.invoke(
        main, ["run", "-c", str(config), "-n", "300", "--policy", "thompson", *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "the clicks of uniform on the same users" in result.output
    assert "segment marathoners" in result.output and "oracle" in result.output


def test_flags_override_environment_override_file(runner, tmp_path, monkeypatch):
    config = write_config(tmp_path)
    monkeypatch.setenv("CREATIVE_OPTIMIZER_SEED", "11")
    env = json.loads(
        runner.invoke(main, ["run", "-c", str(config), "-n", "50", "--json", *FAST]).output
    )
    assert env["seed"] == 11
    flag = runner.invoke(
        main, ["run", "-c", str(config), "-n", "50", "--json", "--seed", "12", *FAST]
    )
    assert json.loads(flag.output)["seed"] == 12


BAD_CONFIGS = [
    ({"segments_extra": 1}, "segments_extra: unknown key; remove it or check its spelling"),
    (
        {"allocation": {"policy": "greedy"}},
        "allocation.policy: unknown policy 'greedy'; "
        "valid names: auto, thompson, top-two, ucb1, uniform, vw",
    ),
    (
        {"seed": "seven"},
        "seed: Input should be a valid integer, unable to parse string as an integer (got 'seven')",
    ),
]


@pytest.mark.parametrize("change,message", BAD_CONFIGS)
def test_bad_config_one_line_error_and_database_untouched(runner, tmp_path, change, message):
    config = write_config(tmp_path, **change)
    result = runner.invoke(main, ["run", "-c", str(config), "-n", "10"])
    assert result.exit_code == 1
    assert result.output == f"Error: {config}: {message}\n"
    assert not (tmp_path / "o.db").exists()


def test_bad_shares_and_long_headline(runner, tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["segments"][0]["share"] = 0.5
    config = write_config(tmp_path, segments=data["segments"])
    result = runner.invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {config}: segments: traffic shares sum to 1.25, not 1; adjust the 'share' values\n"
    )
    data = yaml.safe_load(EXAMPLE.read_text())
    data["seed_creatives"][2]["headline"] = "x" * 31
    config = write_config(tmp_path, seed_creatives=data["seed_creatives"])
    result = runner.invoke(main, ["run", "-c", str(config)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {config}: seed_creatives[2].headline: 31 characters, over "
        "the 30-character limit of placement 'search'; shorten it\n"
    )


def test_bad_flag_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["run", "-c", str(write_config(tmp_path)), "--policy", "ucb"])
    assert result.exit_code == 2 and "'ucb' is not one of" in result.output
    result = runner.invoke(main, ["run", "-c", "missing.yaml"])
    assert result.exit_code == 1
    assert result.output == "Error: missing.yaml: (file): no such file; check the path\n"


def test_simulate_from_arms_csv(runner, tmp_path):
    arms = tmp_path / "ab.csv"
    arms.write_text(
        "segment,creative_id,headline,ctr\n"
        "us,a,Fast,0.01\nus,b,Cheap,0.05\nus,c,Comfy,0.02\n"
        "eu,a,Fast,0.04\neu,b,Cheap,0.01\n"
    )
    result = runner.invoke(
        main,
        [
            "simulate",
            "--arms-csv",
            str(arms),
            "-n",
            "3000",
            "--policy",
            "thompson",
            "--seed",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["oracle"]["expected_ctr"] == pytest.approx(0.045, abs=0.003)
    assert s["uniform"]["expected_ctr"] < s["policy"]["expected_ctr"] < s["oracle"]["expected_ctr"]
    assert s["segments"]["us"]["best_creative"] == "b"

    bad = tmp_path / "bad.csv"
    bad.write_text("segment,creative_id,headline,ctr\nus,a,Fast,lots\n")
    result = runner.invoke(main, ["simulate", "--arms-csv", str(bad)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {bad}: line 2: ctr 'lots' is not a number; write a probability such as 0.021\n"
    )


def test_unknown_campaign(runner, tmp_path):
    result = runner.invoke(main, ["campaign", "show", "nope", "--db", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no campaign 'nope' in sqlite:///")
    result = runner.invoke(main, ["creatives", "list", "--db", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2 and "name the campaign" in result.output


def test_console_script_is_the_same_group():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "creative-optimizer"]
    assert ep.load() is main


def test_generate_without_prompts_and_bad_segment(runner, tmp_path):
    config = write_config(tmp_path, prompts=[])
    result = runner.invoke(main, ["generate", "-c", str(config)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {config}: prompts: no prompt variants; add at least one "
        "(see configs/example.yaml)\n"
    )
    config = write_config(tmp_path)
    result = runner.invoke(main, ["generate", "-c", str(config), "--segment", "pilots"])
    assert result.exit_code == 2 and "unknown segment 'pilots'; valid: marathoners" in result.output
    result = runner.invoke(main, ["run", "-c", str(config), "--no-screen"])
    assert result.exit_code == 2 and "with --no-screen, add --no-generate" in result.output


def test_screen_command(runner, tmp_path):
    config = write_config(tmp_path)
    lines = tmp_path / "mine.txt"
    lines.write_text(
        "Chase your next PR | Responsive foam returns energy on every stride.\n"
        "Are you overweight? | Our shoes were made for you.\n"
    )
    result = runner.invoke(main, ["screen", "-c", str(config), "--input", str(lines), "--json"])
    assert result.exit_code == 0, result.output  # 0 even though one is rejected
    rows = json.loads(result.output)
    assert [r["kept"] for r in rows] == [True, False]
    assert any(r["reason"].startswith("personal attributes") for r in rows[1]["reasons"])
    human = runner.invoke(main, ["screen", "-c", str(config), "--input", str(lines)])
    assert human.exit_code == 0 and "1 kept, 1 rejected" in human.output
    assert not (tmp_path / "o.db").exists()  # screening hand-written lines stores nothing
    missing = runner.invoke(main, ["screen", "-c", str(config), "--input", "nope.txt"])
    assert missing.exit_code == 1
    assert missing.output == "Error: nope.txt: no such file; check the path\n"
