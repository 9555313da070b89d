"""`scorer fit` and `scorer predict` from the command line: reports with ad groups, text
kept as written, and a crafted model file refused in one line."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from optimizer.store import Store
from optimizer.store.models import PolicyRow
from tests.cli.conftest import write_config
from tests.scorer.synthetic import ad_group_table


@pytest.fixture()
def campaign(tmp_path):
    config = write_config(tmp_path)
    table = ad_group_table(np.random.default_rng(11), groups=12)
    report = tmp_path / "tests.csv"
    report.write_text(
        "campaign,ad_group,headline,date,impressions,clicks\n"
        + "".join(
            f"stride-spring,{o.ad_group},{o.headline},2026-03-01,{o.impressions},{o.clicks}\n"
            for o in table
        )
    )
    ingest = CliRunner().invoke(main, ["ingest", str(report), "-c", str(config), "--json"])
    assert ingest.exit_code == 0, ingest.output
    return tmp_path, config


def test_fit_then_predict_keeps_the_text_as_written(campaign):
    tmp, config = campaign
    runner = CliRunner()
    fit = runner.invoke(
        main, ["scorer", "fit", "-c", str(config), "--state-dir", str(tmp / "state"), "--json"]
    )
    assert fit.exit_code == 0, fit.output
    info = json.loads(fit.output)
    assert (info["outcomes"], info["groups"], info["held_out"]) == (48, 12, "group")
    assert info["significant_accuracy"] > 0.8 and info["path"].endswith(".npz")
    human = runner.invoke(main, ["scorer", "fit", "-c", str(config), "--state-dir", str(tmp)])
    assert "outcomes in 12 groups; cross-validated by group: pairwise accuracy" in human.output
    lines = tmp / "mine.txt"
    lines.write_text("  Watch What She Does  \nA Teacher In Ohio: Read The Official Statement\n")
    pred = runner.invoke(
        main, ["scorer", "predict", "-c", str(config), "--input", str(lines), "--json"]
    )
    assert pred.exit_code == 0, pred.output
    rows = json.loads(pred.output)
    assert [(r["line"], r["headline"]) for r in rows] == [
        (1, "  Watch What She Does  "),
        (2, "A Teacher In Ohio: Read The Official Statement"),
    ]
    assert rows[0]["predicted_ctr"] > rows[1]["predicted_ctr"] > 0


class Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_scorer_file_is_one_line_error_and_runs_nothing(campaign):
    tmp, config = campaign
    evil = tmp / "scorer-evil.joblib"
    evil.write_bytes(pickle.dumps(Payload(str(tmp / "pwned"))))
    Store(f"sqlite:///{tmp}/o.db").save_policy(
        PolicyRow(
            version="scorer-evil",
            campaign="stride-spring",
            kind="scorer",
            path=str(evil),
            source="x",
        )
    )
    (tmp / "mine.txt").write_text("Anything\n")
    result = CliRunner().invoke(
        main, ["scorer", "predict", "-c", str(config), "--input", str(tmp / "mine.txt")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {evil}: not a scorer file (a .joblib file, not .npz); scorers are read only "
        "from the .npz and .json that `scorer fit` writes (never from pickle or joblib files, "
        "which can run code); refit with `scorer fit`\n"
    )
    assert not (tmp / "pwned").exists()
