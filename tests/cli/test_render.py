"""User text is printed as written: never read as rich markup, emoji codes or hyperlinks."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from rich.console import Console

from cli import main, render
from tests.cli.conftest import write_config
from tests.conftest import EXAMPLE

CLOSE = "Fresh [/i] miles"  # a stray closing tag: rich raises MarkupError
LINK = "[link=http://x]y[/link]"  # rich would print "y" with a hidden hyperlink
EMOJI = "Go :thumbs_up: now"  # rich would print an emoji
BOLD = "[bold]Loud[/bold]"
TRICKY = [CLOSE, LINK, EMOJI, BOLD]


def rendered(renderables) -> str:
    """As a default rich console prints them (markup and emoji on), without colour."""
    out = io.StringIO()
    console = Console(file=out, width=300, color_system=None)
    for r in renderables:
        console.print(r)
    return out.getvalue()


def assert_literal(output: str, *texts: str) -> None:
    for t in texts:
        assert t in output, f"{t!r} not printed as written"
    assert "\U0001f44d" not in output  # the thumbs-up emoji


def verdict(headline: str, kept: bool = True) -> dict:
    return {
        "segment": "[red]seg[/red]",
        "prompt_id": "[/p]",
        "headline": headline,
        "body": BOLD,
        "cta": "[/c]",
        "kept": kept,
        "reasons": [] if kept else [{"filter": "policy", "reason": f"bad word in {CLOSE}"}],
        "scores": {"relevance": 0.5},
    }


@pytest.mark.parametrize("by_segment", [True, False])
def test_verdicts(by_segment):
    rows = [verdict(h, kept=i % 2 == 0) for i, h in enumerate(TRICKY)]
    out = rendered(render.verdicts(rows, by_segment))
    assert_literal(out, *TRICKY, "bad word in " + CLOSE, "2 kept, 2 rejected")
    if by_segment:
        assert_literal(out, "[red]seg[/red]", "[/p]")


def summary_of(name: str) -> dict:
    total = {"name": "vw", "impressions": 10, "clicks": 1, "ctr": 0.1, "expected_ctr": 0.1}
    creative = {
        "id": "c1", "headline": name, "share": 1.0, "impressions": 10, "clicks": 1,
        "observed_ctr": 0.1, "true_ctr": None,
    }  # fmt: skip
    return {
        "campaign": f"camp {CLOSE}",
        "seed": 1,
        **{k: {**total, "regret": 0.0} for k in ("policy", "uniform", "oracle")},
        "lift_vs_uniform": 1.0,
        "segments": {LINK: {"impressions": 10, "best_creative": "c1", "creatives": [creative]}},
    }


def test_summary_and_segment_tables():
    out = rendered(render.summary(summary_of(EMOJI)))
    assert_literal(out, f"camp {CLOSE} (seed 1)", f"segment {LINK}: 10 impressions", EMOJI)
    assert "c1 *" in out


def test_rounds_table():
    s = {
        "campaign": BOLD, "refresh": True, "initial_pool_true_ctr": 0.01,
        "final_pool_true_ctr": 0.02, "pool_lift": 2.0, "retirements": 1, "new_creatives": 2,
        "generator": CLOSE,
        "rounds": [{"round": 1, "served_ctr": 0.01, "pool_true_ctr": 0.02}],
    }  # fmt: skip
    out = rendered(render.rounds(s))
    assert_literal(out, f"{BOLD}: rounds (with refresh)", f"generator {CLOSE}")


def test_evaluation_campaign_creatives_predictions():
    estimate = {"value": 0.1, "low": 0.05, "high": 0.15}
    evaluation = {
        "campaign": CLOSE, "events": 5, "logged_mean_reward": 0.1, "pending": 0,
        "late_rewards": 0, "orphan_rewards": 0,
        "targets": [{
            "target": f"static:{LINK}", "estimates": {"ips": estimate},
            "diagnostics": {"effective_sample_size": 5, "max_weight": 1, "unseen_actions": []},
        }],
    }  # fmt: skip
    out = rendered(render.evaluation(evaluation))
    assert_literal(out, f"{CLOSE}: estimated mean reward [95% CI]", f"static:{LINK}")
    assert "0.1000 [0.0500, 0.1500]" in out

    info = {
        "name": CLOSE, "product": LINK, "creatives": {"active": 1, "retired": 0, "rejected": 0},
        "events": {"decisions": 0, "rewards": 0},
        "segments": [{"name": BOLD, "share": 1.0, "features": [EMOJI]}],
        "runs": [{"id": "[/r]", "policy": "vw", "seed": 1, "impressions": 1, "status": "done",
                  "ctr": None, "lift_vs_uniform": None}],
    }  # fmt: skip
    assert_literal(rendered(render.campaign(info)), f"{CLOSE}: {LINK}", BOLD, EMOJI, "[/r]")

    row = {
        "id": "[/id]", "headline": CLOSE, "cta": LINK, "segment": None, "source": EMOJI,
        "status": "active", "impressions": 0, "clicks": 0, "ctr": None,
    }  # fmt: skip
    assert_literal(rendered(render.creatives([row])), "[/id]", CLOSE, LINK, EMOJI)
    pred = {"segment": BOLD, "headline": CLOSE, "body": LINK, "predicted_ctr": 0.01}
    assert_literal(rendered(render.predictions([pred])), BOLD, CLOSE, LINK)


def test_screen_prints_headlines_as_written(runner, tmp_path):
    config = write_config(tmp_path)
    lines = tmp_path / "mine.txt"
    lines.write_text(f"{CLOSE} | Light foam for long runs.\n{LINK} | Run more.\n{EMOJI}\n")
    result = runner.invoke(main, ["screen", "-c", str(config), "--input", str(lines)])
    assert result.exit_code == 0, result.output
    assert_literal(result.output, CLOSE, LINK, EMOJI)


def test_run_with_a_markup_headline_finishes_and_prints_it(runner, tmp_path):
    """Old code stored the run's decisions, then crashed printing the summary table."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["seed_creatives"][0]["headline"] = CLOSE
    data["seed_creatives"][1]["headline"] = LINK
    config = write_config(tmp_path, seed_creatives=data["seed_creatives"])
    args = ["-c", str(config), "-n", "300", "--no-generate", "--no-screen"]
    result = runner.invoke(main, ["run", *args, "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert_literal(result.output, CLOSE, LINK)
    listed = runner.invoke(main, ["creatives", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    assert_literal(listed.output, CLOSE, LINK)
    rows = json.loads(
        runner.invoke(main, ["creatives", "list", "-c", str(config), "--json"]).output
    )
    assert {CLOSE, LINK} <= {r["headline"] for r in rows}


def test_progress_label_with_markup(runner, tmp_path):
    """A log file whose name looks like markup keeps its name on the progress bar."""
    config = write_config(tmp_path)
    log = tmp_path / "day[bold].jsonl"
    log.write_text("")
    result = runner.invoke(main, ["ingest", str(log), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "ingesting day[bold].jsonl" in result.output  # the progress bar, on stderr
    assert f"{log} (jsonl): read 0, stored 0" in result.stdout
