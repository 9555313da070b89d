"""The prompt rewrite: one segment's description and evidence reach the LLM."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from optimizer.config import parse_config
from optimizer.generate.backends import ChatRequest
from optimizer.rounds import run_rounds
from optimizer.store import Store
from tests.conftest import EXAMPLE

INSTRUCTION = "Name the muddy trails these runners love."
SYSTEM = "You improve instructions for writing ads."  # the rewrite's system prompt


class RecordingBackend:
    """Writes nothing parseable as an ad; answers the rewrite with ``INSTRUCTION``; keeps
    every request it got."""

    info = SimpleNamespace(id="fake", revision="0", version="fake@0")

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    def complete(self, requests, sampling, seed, progress=None) -> list[str]:
        self.requests += requests
        return [INSTRUCTION if r.system == SYSTEM else "" for r in requests]


def test_the_rewrite_shows_one_segments_description_and_its_own_creatives(tmp_path, monkeypatch):
    backend = RecordingBackend()
    monkeypatch.setattr("optimizer.generate.pipeline.make_backend", lambda cfg: backend)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["refresh"] = {"min_events": 10**9, "finetune": {"enabled": False}}  # no retirements
    data["database_url"] = f"sqlite:///{tmp_path}/r.db"
    cfg = parse_config(data, "rewrite")
    store = Store(cfg.database_url)
    run_rounds(cfg, 1, 1_500, True, store, tmp_path / "state")

    (request,) = [r for r in backend.requests if r.system == SYSTEM]
    # no slot is open, so round 1 rewrites for the first segment in turn
    segment = cfg.segments[0]
    assert f"shown to: {segment.description.rstrip('.')}.\n" in request.user
    assert cfg.brief not in request.user
    (row,) = store.rounds(cfg.name)
    ranked = sorted(
        (a for a in row.metrics["assessments"][segment.name] if a["shown"]), key=lambda a: -a["ctr"]
    )
    creatives = {c.id: c for c in store.creatives(cfg.name)}
    shown = [
        f"{creatives[a['creative_id']].headline} | {creatives[a['creative_id']].body} "
        f"(CTR {a['ctr']:.2%})"
        for a in ranked[:3] + ranked[-2:]
    ]
    assert request.user.split("\n")[2:7] == shown  # the segment's best three, worst two
    written = row.metrics["prompt_written"]
    assert written["instruction"] == INSTRUCTION and written["segment"] == segment.name


@pytest.mark.parametrize(
    "openings,k,expected",
    [
        ({"b": 1, "c": 2}, 1, "c"),  # the most open slots
        ({"a": 1, "c": 1}, 1, "a"),  # a tie goes to the first in turn
        ({"a": 1, "c": 1}, 3, "c"),  # round 3 starts the turn at c
        ({}, 2, "b"),  # nothing open: the segments in turn
    ],
)
def test_the_segment_to_rewrite_for(openings, k, expected):
    from optimizer.refresh.rewrite import rewrite_segment

    assert rewrite_segment(openings, ["a", "b", "c"], k) == expected
