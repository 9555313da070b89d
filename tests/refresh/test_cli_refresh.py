"""`run --rounds`, `--resume`, `scorer fit` and `scorer predict` from the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from tests.cli.conftest import write_config


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rounds")
    config = write_config(tmp)
    runner = CliRunner()
    args = [
        "run",
        "-c",
        str(config),
        "--rounds",
        "2",
        "--impressions-per-round",
        "1500",
        "--no-generate",
        "--state-dir",
        str(tmp / "state"),
        "--json",
    ]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    return tmp, config, args, json.loads(first.output)


def test_rounds_summary_and_resume(played):
    tmp, config, args, summary = played
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert summary["retirements"] > 0 and summary["refresh"] is True
    # asking for more rounds with --resume continues from round 2
    more = json.loads(CliRunner().invoke(main, [*args[:4], "3", *args[5:], "--resume"]).output)
    assert [r["round"] for r in more["rounds"]] == [0, 1, 2, 3]
    assert more["rounds"][:3] == summary["rounds"]
    human = CliRunner().invoke(main, [*args[:-1], "--resume"])
    assert human.exit_code == 0 and "active pool true CTR" in human.output


def test_scorer_fit_and_predict(played, tmp_path):
    tmp, config, _, _ = played
    runner = CliRunner()
    fit = runner.invoke(
        main, ["scorer", "fit", "-c", str(config), "--state-dir", str(tmp / "state"), "--json"]
    )
    assert fit.exit_code == 0, fit.output
    info = json.loads(fit.output)
    assert info["outcomes"] >= 12 and 0.0 <= info["held_out_pairwise_accuracy"] <= 1.0
    lines = tmp_path / "mine.txt"
    lines.write_text("Grip that owns the trail | Mud, rock, roots.\n20% off today\n")
    pred = runner.invoke(
        main,
        [
            "scorer",
            "predict",
            "-c",
            str(config),
            "--input",
            str(lines),
            "--segment",
            "trail_runners",
            "--json",
        ],
    )
    assert pred.exit_code == 0, pred.output
    rows = json.loads(pred.output)
    assert [r["headline"] for r in rows] == ["Grip that owns the trail", "20% off today"]
    assert all(0.0 < r["predicted_ctr"] < 1.0 for r in rows)
    bad = runner.invoke(
        main, ["scorer", "predict", "-c", str(config), "--input", str(lines), "--segment", "pilots"]
    )
    assert bad.exit_code == 2 and "unknown segment 'pilots'" in bad.output
