"""Offline benchmarks: ingestion, learning from logs and evaluation at 1 million events.

Writes N simulated decision events with joined rewards as JSONL, CSV (1% malformed rows
in both) and Parquet, then measures:
- ingestion throughput (rows/s and peak memory) into a fresh SQLite file for each format,
  against a baseline measured in the same run, and a re-ingest (which must store nothing);
  see ``benchmarks/ingest_logs.py``;
- learning throughput from logs (events/s and peak memory): VW's parser in a worker
  process, with AllReduce workers, the command with its join, and against the one-by-one
  baseline measured in the same run; see ``benchmarks/learn_logs.py``;
- the read and join of rewards to decisions (``closed_events``), and the join of pairs it
  replaced (``join_rewards_by_pairs``), in the same run;
- evaluation time of IPS/SNIPS/DM/DR with intervals for two targets over all events.
Prints numbers; asserts nothing.

Run: ``.venv/bin/python benchmarks/offline.py [--events 1000000] [--baseline-events 100000]
[--learn-events N] [--learn-baseline-events 50000] [--learn-workers 2] [--ingest-only]
[--logs FOLDER]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest_logs import ingest_benchmark, logs  # noqa: E402
from learn_logs import learn_benchmark  # noqa: E402

from optimizer.config import load_config  # noqa: E402
from optimizer.observe.join import join_rewards  # noqa: E402
from optimizer.observe.join import join_rewards_by_pairs as by_pairs  # noqa: E402
from optimizer.offline import evaluate_logged  # noqa: E402
from optimizer.store import Store  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=100_000)
    parser.add_argument("--learn-events", type=int, help="events to learn from [all]")
    parser.add_argument("--learn-baseline-events", type=int, default=50_000)
    parser.add_argument("--learn-workers", type=int, default=2, help="AllReduce run (1: skip)")
    parser.add_argument("--ingest-only", action="store_true", help="measure ingestion only")
    parser.add_argument(
        "--logs", type=Path, help="a folder to keep the generated logs in and reuse them from"
    )
    args = parser.parse_args()
    cfg = load_config(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = logs(folder, args.events, args.logs)
        ingest_benchmark(folder, paths, min(args.baseline_events, args.events))
        if args.ingest_only:
            return
        store = Store(f"sqlite:///{folder / 'jsonl.db'}")  # filled by the JSONL run

        print()
        for name, join in (("join rewards to decisions", join_rewards), ("before", by_pairs)):
            t0, cpu = time.perf_counter(), time.process_time()
            joined = join(store, cfg.name, cfg.attribution)
            print(
                f"{name}: {len(joined.events):,} events in {time.perf_counter() - t0:.1f} s "
                f"({time.process_time() - cpu:.1f} CPU s; load average {os.getloadavg()[0]:.1f})"
            )

        learn_benchmark(
            folder / "jsonl.db",
            args.learn_events or args.events,
            min(args.learn_baseline_events, args.learn_events or args.events),
            args.learn_workers,
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
