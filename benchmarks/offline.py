"""Offline benchmarks: ingestion, learning from logs and evaluation at 1 million events.

Writes a JSONL log of N simulated decision events with joined rewards (1% malformed rows)
and a Parquet copy, then measures:
- ingestion throughput (events/s) into a fresh SQLite file, JSONL and Parquet, and the
  time of a re-ingest (which must store nothing);
- learning throughput from logs (VW counterfactual learning, events/s);
- evaluation time of IPS/SNIPS/DM/DR with intervals for two targets over all events.
Prints numbers; asserts nothing.

Run: ``.venv/bin/python benchmarks/offline.py [--events 1000000] [--learn-events 200000]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.config import load_config  # noqa: E402
from optimizer.offline import (  # noqa: E402
    closed_events,
    evaluate_logged,
    ingest_files,
    learn_from_logs,
    simulate_logs,
)
from optimizer.store import Store  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"


def write_logs(folder: Path, n: int) -> tuple[Path, Path, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = load_config(EXAMPLE)
    jsonl, parquet = folder / "log.jsonl", folder / "log.parquet"
    bad = 0
    writer = None
    t0 = time.perf_counter()
    with jsonl.open("w") as f:
        for start in range(0, n, 100_000):
            rows, _ = simulate_logs(cfg, min(100_000, n - start), seed=start // 100_000)
            for i, row in enumerate(rows):
                row["event_id"] = f"b{start + i}"
                if (start + i) % 100 == 42:
                    f.write('{"event_id": "broken", "timestamp": \n')
                    bad += 1
                else:
                    f.write(json.dumps(row) + "\n")
            flat = [
                {
                    **{k: v for k, v in r.items() if k != "context"},
                    **{f"ctx_{k}": v for k, v in r["context"].items()},
                }
                for r in rows
            ]
            table = pa.Table.from_pylist(flat)
            writer = writer or pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table)
    writer.close()
    print(
        f"wrote {n:,} events ({bad:,} malformed) in {time.perf_counter() - t0:.0f} s: "
        f"JSONL {jsonl.stat().st_size / 1e6:.0f} MB, Parquet {parquet.stat().st_size / 1e6:.0f} MB"
    )
    return jsonl, parquet, bad


def ingest(path: Path, db: Path, fmt: str) -> Store:
    cfg = load_config(EXAMPLE)
    store = Store(f"sqlite:///{db}")
    t0 = time.perf_counter()
    (report,) = ingest_files(store, [str(path)], config=cfg)
    wall = time.perf_counter() - t0
    print(
        f"ingest {fmt}: {report.read:,} rows in {wall:.1f} s = {report.read / wall:,.0f} rows/s "
        f"({report.decisions:,} decisions + {report.rewards:,} rewards stored, "
        f"{report.quarantined:,} quarantined)"
    )
    t0 = time.perf_counter()
    (again,) = ingest_files(store, [str(path)])
    print(
        f"  re-ingest: {time.perf_counter() - t0:.1f} s, stored {again.stored}, "
        f"duplicates {again.duplicates:,}, quarantined {again.quarantined:,}"
    )
    return store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--learn-events", type=int, default=200_000)
    args = parser.parse_args()
    cfg = load_config(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl, parquet, _ = write_logs(folder, args.events)
        store = ingest(jsonl, folder / "jsonl.db", "JSONL")
        ingest(parquet, folder / "parquet.db", "Parquet")

        t0 = time.perf_counter()
        joined = closed_events(store, cfg.name)
        print(
            f"\njoin rewards to decisions: {len(joined.events):,} events in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        share = 1.0 - min(args.learn_events / len(joined.events), 1.0)
        t0 = time.perf_counter()
        info = learn_from_logs(store, cfg.name, folder / "state", test_share=share)
        wall = time.perf_counter() - t0
        print(
            f"learn from logs: {info['train_events']:,} events in {wall:.1f} s "
            f"(join included) = {info['train_events'] / wall:,.0f} events/s"
        )

        static = folder / "static.csv"
        ids = joined.events["candidates"].iloc[0]
        static.write_text(
            "action,probability\n" + "".join(f"{a},{1 + i}\n" for i, a in enumerate(ids))
        )
        for ci in ("normal", "bootstrap"):
            t0 = time.perf_counter()
            result = evaluate_logged(
                store,
                cfg.name,
                ["uniform", f"static:{static}"],
                ("ips", "snips", "dm", "dr"),
                ci=ci,
                replicates=200,
            )
            wall = time.perf_counter() - t0
            dr = result.comparison.targets[1].estimates["dr"]
            print(
                f"evaluate {result.comparison.events:,} events, 2 targets x 4 estimators, {ci} "
                f"intervals: {wall:.1f} s (static DR {dr.value:.4f} "
                f"[{dr.low:.4f}, {dr.high:.4f}])"
            )


if __name__ == "__main__":
    main()
