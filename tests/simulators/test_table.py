from __future__ import annotations

import numpy as np
import pytest

from optimizer.errors import InputError
from simulators.table import TableSimulator, load_arms_csv

GOOD = """segment,creative_id,headline,ctr,segment_share
young,a,Fast,0.02,0.75
young,b,Cheap,0.04,0.75
old,a,Fast,0.03,0.25
old,c,Comfy,0.01,0.25
"""


def write(tmp_path, text, name="arms.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_and_simulates(tmp_path):
    table = load_arms_csv(write(tmp_path, GOOD))
    assert table.segments == ("young", "old") and table.shares == pytest.approx((0.75, 0.25))
    sim = TableSimulator(table)
    users = sim.draw_contexts(4000, np.random.default_rng(0))
    assert sum(u.segment == "young" for u in users) / 4000 == pytest.approx(0.75, abs=0.03)
    from optimizer.records import Context

    assert list(sim.expected_rewards(Context("old"), table.creatives["old"])) == [0.03, 0.01]


def test_equal_shares_by_default(tmp_path):
    text = "segment,creative_id,headline,ctr\ns1,a,A,0.1\ns2,a,A,0.2\ns3,b,B,0.3\n"
    assert load_arms_csv(write(tmp_path, text)).shares == pytest.approx((1 / 3,) * 3)


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("segment,creative_id,ctr\nx,a,0.1\n", r"arms\.csv: line 1: missing column\(s\) headline"),
        (
            "segment,creative_id,headline,ctr\nx,a,A,high\n",
            r"arms\.csv: line 2: ctr 'high' is not a number",
        ),
        (
            "segment,creative_id,headline,ctr\nx,a,A,0.1\nx,a,A,1.5\n",
            r"line 3: ctr 1\.5 must be between 0 and 1",
        ),
        (
            "segment,creative_id,headline,ctr\nx,a,A,0.1\nx,a,B,0.2\n",
            r"line 3: creative 'a' appears twice",
        ),
        (
            "segment,creative_id,headline,ctr\n,a,A,0.1\n",
            r"line 2: segment and creative_id must not be empty",
        ),
        (
            "segment,creative_id,headline,ctr,segment_share\nx,a,A,0.1,0.5\nx,b,B,0.1,0.6\n",
            r"line 3: segment_share of 'x' differs",
        ),
        ("segment,creative_id,headline,ctr\n", r"arms\.csv: no arms"),
    ],
)
def test_bad_rows_name_the_line(tmp_path, text, pattern):
    with pytest.raises(InputError, match=pattern):
        load_arms_csv(write(tmp_path, text))


REPORT = """test_id,test_week,headline,impressions,clicks
t1,201311,Naked ads,2000,44
t1,201311,naked ads,1950,15
t2,201312,Why?,1000,10
t2,201312,Because,1000,30
"""


def test_reads_a_report_of_past_tests(tmp_path):
    table = load_arms_csv(write(tmp_path, REPORT))
    assert table.segments == ("t1", "t2")
    ids = [c.id for c in table.creatives["t1"]]
    assert len(set(ids)) == 2  # capitalisation makes a different headline
    assert [c.headline for c in table.creatives["t1"]] == ["Naked ads", "naked ads"]
    assert table.ctr[("t1", ids[0])] == pytest.approx(0.022)
    assert table.ctr[("t2", table.creatives["t2"][1].id)] == pytest.approx(0.03)


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("ad_group,headline,clicks\ng,A,1\n", r"line 1: missing column\(s\) impressions"),
        ("test_id,clicks,impressions\ng,1,10\n", r"line 1: missing column\(s\) headline"),
        ("headline,ctr\nA,0.1\n", r"line 1: missing column\(s\) segment;"),
        ("ad_group,headline,impressions,clicks\ng,A,10,11\n", r"line 2: clicks 11 must lie"),
        ("ad_group,headline,impressions,clicks\ng,A,0,0\n", r"line 2: impressions must be pos"),
        ("ad_group,headline,impressions,clicks\ng,A,ten,1\n", r"line 2: impressions 'ten' is not"),
        ("ad_group,headline,impressions,clicks\ng,,10,1\n", r"line 2: ad_group and headline must"),
        ("ad_group,headline,impressions,clicks\ng,A,10,1\ng,A,10,2\n", r"line 3: creative '"),
    ],
)
def test_bad_report_rows_name_the_line(tmp_path, text, pattern):
    with pytest.raises(InputError, match=pattern):
        load_arms_csv(write(tmp_path, text))
