"""Logged events from the simulator as the joined frame ``learn`` trains on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.allocate.vw_logged import id_creatives
from optimizer.evaluate.targets import candidate_lists
from optimizer.offline import simulate_logs
from optimizer.records import Context


def as_joined(rows: list[dict]) -> pd.DataFrame:
    """The columns of ``closed_events(...).events`` from simulated rows, in time order."""
    return pd.DataFrame(
        {
            "segment": [r["segment"] for r in rows],
            "context": [r["context"] for r in rows],
            "candidates": [r["candidates"] for r in rows],
            "chosen": [r["action"] for r in rows],
            "probability": [r["probability"] for r in rows],
            "reward": [r["reward"] for r in rows],
        }
    )


def true_value(policy, rows: list[dict], truths: list[np.ndarray]) -> float:
    """Mean true click probability of ``policy``'s distribution on the events of ``rows``."""
    creatives = id_creatives()
    values = [
        np.asarray(policy.distribution(Context(r["segment"], r["context"]), creatives(c))) @ t
        for r, c, t in zip(rows, (tuple(r["candidates"]) for r in rows), truths, strict=True)
    ]
    return float(np.mean(values))


@pytest.fixture(scope="package")
def logged(example_cfg):
    """4,000 events under a uniform logging policy, then 1,000 held out (with the truth)."""
    rows, truths = simulate_logs(example_cfg, 5_000, seed=11, epsilon=1.0)
    train = as_joined(rows[:4_000])
    return train, candidate_lists(train), rows[4_000:], truths[4_000:]
