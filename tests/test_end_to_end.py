"""End to end with the real models: SmolLM2 (cached), MiniLM, the profanity model, VW and a
real SQLite database. Kept small: a handful of generations."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from optimizer.store import Store
from tests.conftest import EXAMPLE


def tiny_config(tmp_path, n_per_prompt: int = 2) -> tuple[str, str]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["generation"]["n_per_prompt"] = n_per_prompt
    url = f"sqlite:///{tmp_path}/e2e.db"
    data["database_url"] = url
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path), url


@pytest.mark.slow
def test_generate_stores_candidates_with_lineage_and_verdicts(tmp_path):
    config, url = tiny_config(tmp_path)
    runner = CliRunner()
    args = ["generate", "-c", config, "--segment", "marathoners", "-n", "3", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 6  # 1 segment x 2 prompt variants x 3
    for row in rows:
        assert row["reasons"] or row["kept"]
        assert all(r["filter"] and r["reason"] for r in row["reasons"])
    store = Store(url)
    stored = {c.id: c for c in store.creatives("stride-spring")}
    parsed = [r for r in rows if r["id"]]
    assert parsed, "the model produced no parseable answer at all"
    for row in parsed:
        c = stored[row["id"]]
        assert c.status == ("active" if row["kept"] else "rejected")
        assert c.source == "generated" and c.segment == "marathoners"
        assert c.prompt_id in ("benefit", "direct") and c.generator_version.startswith(
            "HuggingFaceTB/SmolLM2-135M-Instruct@"
        )
        assert {"prompt_id", "model", "revision", "sampling", "seed", "segment", "time"} <= set(
            c.lineage
        )
        assert c.cta in ("Shop now", "Learn more", "Get offer", "Find your fit")
    assert len(store.screenings("stride-spring")) == 6

    # the same seed writes the same creatives: stored once, screened once
    again = json.loads(runner.invoke(main, args).output)
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert len(store.screenings("stride-spring")) == 6


@pytest.mark.slow
def test_run_generates_filters_and_allocates(tmp_path):
    config, url = tiny_config(tmp_path)
    result = CliRunner().invoke(
        main, ["run", "-c", config, "-n", "1500", "--json", "--state-dir", str(tmp_path / "state")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    pool = summary["pool"]
    assert pool["screened"] == 12 + 5 * 2 * 2  # seeds + segments x prompts x n
    served = {c["id"] for seg in summary["segments"].values() for c in seg["creatives"]}
    store = Store(url)
    active = {c.id for c in store.creatives("stride-spring", "active")}
    assert served <= active and len(served) == pool["creatives"]
    assert summary["policy"]["impressions"] == 1500
    assert store.count_events("stride-spring") == (1500, 1500)


@pytest.mark.slow
def test_a_round_with_the_whole_refresh(tmp_path):
    """One round with generation on: prompts rewritten, replacements generated and ranked,
    a LoRA refresh, and its version in the store and the report."""
    from optimizer.config import load_config
    from optimizer.report import write_report
    from optimizer.rounds import run_rounds

    data = yaml.safe_load(EXAMPLE.read_text())
    data["generation"]["n_per_prompt"] = 1
    # three seeds and at most two generated creatives a segment: every segment starts below
    # the pool size, so the round has slots to refill
    data["seed_creatives"] = [data["seed_creatives"][i] for i in (0, 2, 4)]
    data["refresh"] = {
        "pool_size": 6,
        "min_events": 50,
        "candidates_per_slot": 1,
        "finetune": {"every": 1, "steps": 1, "batch_size": 2, "min_examples": 1, "compare": 1},
    }
    data["database_url"] = f"sqlite:///{tmp_path}/r.db"
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(path)
    store = Store(cfg.database_url)
    summary = run_rounds(cfg, 1, 2_000, True, store, tmp_path / "state")
    (row,) = store.rounds(cfg.name)
    m = row.metrics
    assert {"allocate", "assess", "retire", "prompts", "finetune", "commit"} <= set(m["seconds"])
    # the policy served against the simulator's truth: no better than the oracle, and above
    # uniform serving of the same pool
    assert m["uniform_ctr"] < m["expected_ctr"] <= m["oracle_ctr"]

    # prompts rewritten: a child of a config prompt, from one segment's evidence
    written = m["prompt_written"]
    assert written["parent"] in ("benefit", "direct")
    assert written["segment"] in {s.name for s in cfg.segments}
    state = json.loads(
        (tmp_path / "state" / cfg.name / summary.run_id / "round-001" / "state.json").read_text()
    )
    assert written["id"] in {p["id"] for p in state["prompts"]}

    # replacements: every open slot was filled by a created (generated, edited or recombined),
    # screened and gated candidate, or is reported open
    before = state["history"][0]["pool_size"]
    retired = Counter(r["segment"] for r in m["retirements"])
    opened = {s: 6 - (n - retired[s]) for s, n in before.items() if n - retired[s] < 6}
    assert set(opened) == {s.name for s in cfg.segments}
    new = Counter(c["segment"] for c in m["new_creatives"])
    unfilled = m.get("unfilled", {})
    for segment, slots in opened.items():
        assert new[segment] + unfilled.get(segment, 0) == slots
        assert m["pool_size"][segment] == 6 - unfilled.get(segment, 0)
    screened = [v for v in store.screenings(cfg.name) if v.batch.startswith(summary.run_id)]
    assert screened, "no generated candidate reached the filters"
    kept = sum(v.kept for v in screened)
    if kept:  # the scorer's gate ranked what the filters kept
        assert len(m["new_creatives"]) + m["gated_out"] <= kept
    stored = {c.id: c for c in store.creatives(cfg.name)}
    for c in m["new_creatives"]:
        made = stored[c["id"]]
        assert made.lineage["round"] == 1
        assert made.source in {"generated", "edited", "recombined"}
        assert made.lineage["operator"]  # which operator made it, for the operator bandit

    # the generator refreshed with LoRA and judged by the scorer against its parent on the
    # same prompts: kept (in the store and the report) or reverted (the base served on)
    assert m["finetune_data"]["sft"] >= 1
    check = m["generator_comparison"]
    trained = check["trained"]
    assert "+lora-" in trained and check["child"]["version"] == trained
    assert check["parent"]["requests"] == check["child"]["requests"] > 0
    assert check["keep"] == (check["child"]["mean"] > check["parent"]["mean"])
    kept = [g.version for g in store.generators(cfg.name)]
    if check["keep"]:
        assert m["generator_refresh"]["version"] == trained == summary.generator
        assert kept == [trained]
        page = write_report(store, cfg.name, tmp_path / "report").read_text()
        assert trained in page
    else:
        assert "generator_refresh" not in m and kept == []
        assert summary.generator == check["parent"]["version"]
