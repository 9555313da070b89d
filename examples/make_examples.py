"""Writes the small example log files in this folder from the simulator (seed 1).

Run: ``.venv/bin/python examples/make_examples.py``. The files document the formats that
``ingest`` reads (see the README, "Log formats").
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from optimizer.config import load_config  # noqa: E402
from optimizer.offline import simulate_logs  # noqa: E402


def main() -> None:
    cfg = load_config(HERE.parent / "configs" / "example.yaml")
    rows, _ = simulate_logs(cfg, 12, seed=1)
    write_decisions_and_rewards(rows[:8])
    write_joined_csv(rows[8:])
    write_parquet(rows[8:])
    write_dsjson(rows[:4])
    write_report(cfg.name, rows[0]["candidates"][4])
    write_targets(rows[0]["candidates"])


def write_decisions_and_rewards(rows: list[dict]) -> None:
    """Decision events (JSONL), and their rewards in a separate file that arrives later."""
    with (HERE / "decisions.jsonl").open("w") as f:
        for r in rows:
            f.write(json.dumps({k: v for k, v in r.items() if k != "reward"}) + "\n")
    with (HERE / "rewards.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "timestamp", "reward", "kind"])
        for r in rows:
            if r["reward"]:
                ts = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
                w.writerow([r["event_id"], (ts + timedelta(minutes=3)).isoformat(), 1, "click"])
        w.writerow(["sim-1-0", "2026-01-03T09:00:00+00:00", 1, "click"])  # late: after 24 h
        w.writerow(["sim-1-5", "2026-01-01T00:30:00+00:00", 1, "conversion"])  # another kind
        w.writerow(["unknown-event", "2026-01-01T00:10:00+00:00", 1, "click"])  # an orphan


def write_joined_csv(rows: list[dict]) -> None:
    """Joined decisions as CSV with ctx_ columns and |-separated candidates."""
    with (HERE / "decisions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "event_id",
                "timestamp",
                "campaign",
                "segment",
                "ctx_age",
                "ctx_weekly_km",
                "ctx_device",
                "action",
                "probability",
                "candidates",
                "reward",
            ]
        )
        for r in rows:
            c = r["context"]
            w.writerow(
                [
                    r["event_id"],
                    r["timestamp"],
                    r["campaign"],
                    r["segment"],
                    c["age"],
                    c["weekly_km"],
                    c["device"],
                    r["action"],
                    r["probability"],
                    "|".join(r["candidates"]),
                    r["reward"],
                ]
            )


def write_parquet(rows: list[dict]) -> None:
    """The joined decisions as Parquet, contexts as flat ctx_ columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(
        [
            {
                **{k: v for k, v in r.items() if k not in ("context", "candidates")},
                **{f"ctx_{k}": v for k, v in r["context"].items()},
            }
            for r in rows
        ]
    )
    pq.write_table(table, HERE / "decisions.parquet")


def write_dsjson(rows: list[dict]) -> None:
    """VW decision-service JSON: cost = -reward, 1-based action, probability of the label."""
    with (HERE / "events.dsjson").open("w") as f:
        for r in rows:
            idx = r["candidates"].index(r["action"])
            f.write(
                json.dumps(
                    {
                        "_label_cost": -r["reward"],
                        "_label_probability": r["probability"],
                        "_label_Action": idx + 1,
                        "_labelIndex": idx,
                        "Version": "1",
                        "EventId": r["event_id"].replace("sim-", "ds-"),
                        "Timestamp": r["timestamp"],
                        "a": [idx + 1],
                        "p": [r["probability"]],
                        "c": {
                            "User": {**r["context"], "segment": r["segment"]},
                            "_multi": [{"id": c} for c in r["candidates"]],
                        },
                    }
                )
                + "\n"
            )


def write_report(campaign: str, creative_id: str) -> None:
    """An aggregated platform report: one row by text, one by creative id."""
    with (HERE / "report.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "campaign",
                "segment",
                "creative_id",
                "headline",
                "body",
                "date",
                "impressions",
                "clicks",
                "conversions",
            ]
        )
        w.writerow(
            [
                campaign,
                "marathoners",
                "",
                "Chase your next PR",
                "Responsive foam returns energy on every stride. Built for race-day speed.",
                "2026-03-01",
                1200,
                31,
                2,
            ]
        )
        w.writerow([campaign, "beginners", creative_id, "", "", "2026-03-01", 900, 22, ""])


def write_targets(first: list[str]) -> None:
    """Target policies for evaluate: static allocations as CSV and JSON."""
    with (HERE / "static_allocation.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["segment", "action", "probability"])
        for a, p in zip(first[:3], (0.6, 0.3, 0.1), strict=True):
            w.writerow(["", a, p])
        w.writerow(["beginners", first[4], 1.0])
    (HERE / "static_allocation.json").write_text(
        json.dumps(
            {"global": {first[0]: 0.5, first[1]: 0.5}, "segments": {"beginners": {first[4]: 1.0}}},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
