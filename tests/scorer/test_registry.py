"""`scorer fit` and `scorer predict` as library calls: learning from stored reports with ad
groups (or segments), registering a safe file, and predictions that keep the input as is."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.errors import InputError, OptimizerError
from optimizer.observe.ingest import ingest_file
from optimizer.scorer import (
    CreativeScorer,
    FitResult,
    Outcome,
    fit_and_register,
    latest_scorer,
    outcomes_from_store,
    predict_file,
    scorer_version,
)
from optimizer.store import Store
from optimizer.store.models import PolicyRow
from tests.scorer.synthetic import ad_group_table


@pytest.fixture()
def store(tmp_path, example_cfg):
    s = Store(f"sqlite:///{tmp_path}/store.db")
    s.save_campaign(example_cfg)
    return s


def write_report(path, rows, with_ad_group=True) -> None:
    head = "campaign,segment,ad_group,headline,date,impressions,clicks\n"
    lines = [
        f"stride-spring,{o.segment},{o.ad_group if with_ad_group else ''},{o.headline},"
        f"2026-03-0{day},{o.impressions // 2},{(o.clicks + day - 1) // 2}\n"
        for o in rows
        for day in (1, 2)
    ]
    path.write_text(head + "".join(lines))


def test_fit_learns_from_reports_with_ad_groups_and_registers_a_safe_file(store, tmp_path):
    table = ad_group_table(np.random.default_rng(7), groups=12)
    write_report(tmp_path / "report.csv", table)
    assert ingest_file(store, tmp_path / "report.csv").reports == 2 * len(table)
    outcomes = outcomes_from_store(store, "stride-spring")
    assert {o.ad_group for o in outcomes} == {f"test-{g}" for g in range(12)}
    result = fit_and_register(store, "stride-spring", tmp_path / "state", seed=1)
    assert isinstance(result, FitResult)
    assert (result.outcomes, result.groups, result.held_out) == (96, 12, "group")
    assert result.significant_accuracy > 0.85 and result.significant_pairs > 20
    assert 0.8 < result.calibration_ratio < 1.2
    assert 1 <= result.prior_impressions < 1e5
    assert result.path.endswith(f"{result.version}.npz")
    [row] = [p for p in store.policies("stride-spring") if p.kind == "scorer"]
    assert row.version == result.version and row.metrics["outcomes"] == 96
    loaded = latest_scorer(store, "stride-spring")
    by_version = scorer_version(store, result.version)
    fitted = CreativeScorer().fit(outcomes)
    texts = [o.headline for o in table[:4]]
    assert np.allclose(loaded.predict("", texts), fitted.predict("", texts))
    assert np.allclose(by_version.predict("", texts), fitted.predict("", texts))
    with pytest.raises(OptimizerError, match=f"scorer '{result.version}' belongs to campaign"):
        latest_scorer(store, "other", result.version)


def test_a_version_that_is_not_a_scorer_is_refused(store, tmp_path):
    store.save_policy(
        PolicyRow(version="vw-1", campaign="stride-spring", kind="vw", path="x", source="logs")
    )
    with pytest.raises(
        OptimizerError, match="'vw-1' is a vw policy of campaign 'stride-spring', not a scorer"
    ):
        scorer_version(store, "vw-1")
    with pytest.raises(OptimizerError, match="no stored policy 'nope'"):
        scorer_version(store, "nope")


def test_a_report_without_ad_groups_learns_within_segments(store, tmp_path):
    rng = np.random.default_rng(8)
    rows = [
        Outcome(seg, o.headline, "", "", o.impressions, o.clicks)
        for seg in ("marathoners", "beginners")
        for o in ad_group_table(rng, groups=3)
    ]
    write_report(tmp_path / "report.csv", rows, with_ad_group=False)
    ingest_file(store, tmp_path / "report.csv")
    result = fit_and_register(store, "stride-spring", tmp_path / "state")
    assert (result.groups, result.held_out) == (2, "creative")
    scorer = latest_scorer(store, "stride-spring")
    assert scorer.segments == ["beginners", "marathoners"]


def test_too_few_outcomes_is_an_error(store, tmp_path):
    with pytest.raises(OptimizerError, match="has 0 creatives with impressions; run or ingest"):
        fit_and_register(store, "stride-spring", tmp_path)


@pytest.fixture(scope="module")
def scorer() -> CreativeScorer:
    rows = [
        Outcome(seg, h, b, "", 2000, k)
        for seg in ("a", "b")
        for h, b, k in [("Fast", "Light.", 60), ("Cheap", "", 20), ("Warm", "Soft.", 40)]
    ]
    return CreativeScorer().fit(rows)


def test_predictions_keep_the_input_order_and_text_exactly(scorer, tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("  Spaced out  \n# a comment\n\nA|B\nLeft  |  right |x\r\nLast one")
    rows = predict_file(scorer, path, ["b"])
    assert [(r.line, r.headline, r.body) for r in rows] == [
        (1, "  Spaced out  ", ""),
        (4, "A", "B"),
        (5, "Left ", " right |x"),
        (6, "Last one", ""),
    ]
    assert all(r.segment == "b" and 0 < r.predicted_ctr < 1 for r in rows)
    both = predict_file(scorer, path)
    assert [r.segment for r in both] == ["a"] * 4 + ["b"] * 4
    assert [r.predicted_ctr for r in both[4:]] == [r.predicted_ctr for r in rows]


def test_csv_predictions_keep_quoted_text(scorer, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text('headline,body\n" Two, words ","Line one\nline two"\nPlain,\n')
    rows = predict_file(scorer, path, ["a"])
    assert [(r.line, r.headline, r.body) for r in rows] == [
        (3, " Two, words ", "Line one\nline two"),
        (4, "Plain", ""),
    ]


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("x.csv", "title\nA\n", r"x\.csv: line 1: no 'headline' column"),
        ("x.csv", "headline\n  \n", r"x\.csv: line 2: empty headline"),
        ("x.txt", "# only\n\n", r"x\.txt: no creatives in it"),
        ("x.txt", " | body\n", r"x\.txt: line 1: empty headline"),
    ],
)
def test_bad_input_files_name_the_line(scorer, tmp_path, name, text, pattern):
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=pattern):
        predict_file(scorer, tmp_path / name)


def test_an_unknown_segment_lists_the_valid_ones(scorer, tmp_path):
    (tmp_path / "x.txt").write_text("A\n")
    with pytest.raises(OptimizerError, match="unknown segment 'c'; valid: a, b"):
        predict_file(scorer, tmp_path / "x.txt", ["c"])
