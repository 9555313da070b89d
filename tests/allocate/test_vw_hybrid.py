"""The Thompson floor under VW's distribution (optimizer/allocate/vw_hybrid.py)."""

import numpy as np
import pytest

from optimizer.allocate.vw import VWPolicy, thompson_floor
from optimizer.allocate.vw_hybrid import SegmentThompson
from optimizer.records import Context, Creative, Decision, Feedback

IDS = ["a", "b", "c"]


def _learn(floor: SegmentThompson, segment: str, clicks: dict[str, tuple[int, int]]) -> None:
    for cid, (k, n) in clicks.items():
        for i in range(n):
            floor.learned(segment, cid, float(i < k))


def test_an_underestimated_creative_with_thin_evidence_is_lifted():
    floor = SegmentThompson(share=0.3, sharpness=4.0, rng=np.random.default_rng(0))
    # "c" looks as good as "a" on a tenth of the impressions; "b" is clearly worse
    _learn(floor, "s", {"a": (50, 1000), "b": (10, 1000), "c": (5, 100)})
    ts = floor.probabilities("s", IDS)
    vw = np.array([0.97, 0.02, 0.01])  # VW all but ruled "c" out
    out = floor.adjust("s", IDS, vw)
    assert out.sum() == pytest.approx(1.0) and (out > 0).all()
    assert ts[2] > 0.1 and out[2] >= 0.3 * ts[2] / (1 + 0.3 * ts.sum()) > vw[2]
    lifted = np.maximum(vw, 0.3 * ts)
    assert out == pytest.approx(lifted / lifted.sum())  # the rest scaled down, in proportion
    # another segment's evidence does not leak in
    assert floor.probabilities("t", IDS) == pytest.approx(np.full(3, 1 / 3), abs=0.1)


def test_share_zero_leaves_vw_untouched():
    floor = SegmentThompson(share=0.0)
    assert floor.adjust("s", IDS, [0.5, 0.3, 0.2]).tolist() == [0.5, 0.3, 0.2]


def test_many_candidate_lists_keep_a_bounded_cache_of_the_most_recently_used():
    floor = SegmentThompson(lists=4, rng=np.random.default_rng(0))
    _learn(floor, "s", {"a": (5, 50), "b": (1, 50)})
    first = floor.probabilities("s", ["a", "b"])
    for i in range(10):  # an ad server sending a new candidate list each time
        floor.probabilities("s", ["a", "b", f"x{i}"])
        again = floor.probabilities("s", ["a", "b"])  # used again: kept, not redrawn
        np.testing.assert_array_equal(again, first)
    assert len(floor.to_json()["state"]["cache"]) == 4
    _learn(floor, "s", {"a": (0, 100)})  # a redraw touches only the lists kept
    restored = SegmentThompson.from_json(floor.to_json())
    assert restored.lists == 4 and len(restored.to_json()["state"]["cache"]) == 4


@pytest.mark.parametrize(("kwargs", "match"), [({"share": 1.0}, "share"),
                                               ({"sharpness": 0.0}, "sharpness")])  # fmt: skip
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SegmentThompson(**kwargs)


ARMS = [Creative.from_text("b", f"headline {i}", "body", "Shop now") for i in range(4)]


def _step(policy: VWPolicy, rng: np.random.Generator, i: int) -> tuple[int, float]:
    ctx = Context("s", {"device": "mobile"})
    choice = policy.choose(ctx, ARMS, rng, event_id=str(i))
    assert choice.probability == pytest.approx(choice.distribution[choice.index])
    chosen = ARMS[choice.index].id
    d = Decision(str(i), 0.0, "b", ctx, tuple(a.id for a in ARMS), chosen, choice.probability,
                 "vw", policy.version)  # fmt: skip
    policy.learn([Feedback(d, float(rng.random() < 0.05 * (1 + choice.index)))])
    return choice.index, choice.probability


def test_save_and_load_resume_identically_across_a_redraw(tmp_path):
    policy = VWPolicy(seed=3, thompson=thompson_floor(3))
    rng = np.random.default_rng(1)
    for i in range(150):  # one redraw of the estimates (every 100) before saving
        _step(policy, rng, i)
    policy.save(tmp_path / "p.vw")
    loaded = VWPolicy.load(tmp_path / "p.vw")
    assert loaded.thompson.counts == policy.thompson.counts
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    # 100 more cross the next redraw: the estimates' generator resumes where it was
    got = [(_step(policy, r1, i), _step(loaded, r2, i)) for i in range(150, 250)]
    assert all(a == pytest.approx(b) for a, b in got)
