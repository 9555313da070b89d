"""Ingestion throughput: JSONL, CSV and Parquet logs into a fresh SQLite file.

Each run is a fresh process (its peak memory is its own): the default path (rows checked a
chunk of columns at a time in a worker process while this one writes) on all N events, then
on the first ``--baseline-events`` events both the default path and the baseline measured
in the same run: every row through the full validation, each batch written before reading
on (``ingest_file(fast=False)``). Then a re-ingest of the whole file, which must store
nothing. Prints rows/s (wall, and per CPU second of the ingesting process and its worker
together), the ratio to the baseline, the peak resident memory of each process, and the
machine's load average (the machine may be shared); asserts nothing.

Run alone: ``.venv/bin/python benchmarks/ingest_logs.py [--events 1000000]
[--baseline-events 100000] [--logs FOLDER]`` (``benchmarks/offline.py`` runs it too).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"
BAD_EVERY = 100  # one malformed row in 100 (JSONL: broken JSON; CSV: an extra field)
BROKEN = '{"event_id": "broken", "timestamp":\n'


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that ended (the ingest's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def write_logs(folder: Path, n: int) -> dict[str, Path]:
    """N simulated decision events with joined rewards as JSONL, CSV and Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from optimizer.config import load_config
    from optimizer.offline import simulate_logs

    cfg = load_config(EXAMPLE)
    paths = {"JSONL": folder / "log.jsonl", "CSV": folder / "log.csv"}
    paths["Parquet"] = folder / "log.parquet"
    t0, parquet, bad = time.perf_counter(), None, 0
    with paths["JSONL"].open("w") as jf, paths["CSV"].open("w", newline="") as cf:
        out = csv.writer(cf)
        for start in range(0, n, 100_000):
            rows, _ = simulate_logs(cfg, min(100_000, n - start), seed=start // 100_000)
            flat = []
            for i, row in enumerate(rows):
                row["event_id"] = f"b{start + i}"
                flat.append(
                    {
                        **{k: v for k, v in row.items() if k != "context"},
                        **{f"ctx_{k}": v for k, v in row["context"].items()},
                    }
                )
                broken = (start + i) % BAD_EVERY == 42
                bad += broken
                jf.write(BROKEN if broken else f"{json.dumps(row)}\n")
                if start + i == 0:
                    out.writerow(list(flat[0]))
                cells = [v if k != "candidates" else "|".join(v) for k, v in flat[-1].items()]
                out.writerow(cells + ["extra"] if broken else cells)
            table = pa.Table.from_pylist(flat)
            parquet = parquet or pq.ParquetWriter(paths["Parquet"], table.schema)
            parquet.write_table(table)
    parquet.close()
    sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.0f} MB" for k, p in paths.items())
    print(
        f"wrote {n:,} events ({bad:,} malformed in JSONL and CSV) in "
        f"{time.perf_counter() - t0:.0f} s: {sizes}"
    )
    return paths


def head(paths: dict[str, Path], k: int, folder: Path) -> dict[str, Path]:
    """The first ``k`` events of each file, written in ``folder``."""
    import pyarrow.parquet as pq

    out = {}
    for fmt, path in paths.items():
        short = folder / f"head-{k}{path.suffix}"
        if fmt == "Parquet":
            pq.write_table(pq.read_table(path).slice(0, k), short)
        else:
            with path.open("rb") as src, short.open("wb") as dst:
                for i, line in enumerate(src):
                    if i >= k + (fmt == "CSV"):
                        break
                    dst.write(line)
        out[fmt] = short
    return out


def _run(path: str, db: str, fast: bool, again: bool, results) -> None:
    """In a fresh process: ingest ``path`` into a new SQLite file ``db``."""
    from optimizer.config import load_config
    from optimizer.observe.ingest import ingest_file
    from optimizer.store import Store

    store = Store(f"sqlite:///{db}")
    store.save_campaign(load_config(EXAMPLE))
    wall, (own, workers) = time.perf_counter(), _cpu()
    report = ingest_file(store, path, fast=fast)
    after = _cpu()
    wall, cpu = time.perf_counter() - wall, (after[0] - own, after[1] - workers)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest; 0: none
    redo = None
    if again:
        t0 = time.perf_counter()
        second = ingest_file(store, path)
        redo = (time.perf_counter() - t0, second.stored, second.duplicates, second.quarantined)
    results.put((report.as_dict(), wall, cpu, (peak, worker), redo, os.getloadavg()[0]))


def measure(path: Path, db: Path, fast: bool = True, again: bool = False) -> tuple:
    ctx = multiprocessing.get_context("forkserver")  # a small parent: its own peak memory
    results = ctx.Queue()
    proc = ctx.Process(target=_run, args=(str(path), str(db), fast, again, results))
    proc.start()
    out = results.get()
    proc.join()
    return out


def _line(label: str, result: tuple) -> float:
    report, wall, (own, workers), (peak, worker), _, load = result
    n = report["read"]
    rate = n / wall
    memory = f"{peak:,.0f} MB" + (f" + {worker:,.0f} MB a worker" if worker else "")
    split = f"; CPU per row: {own / n * 1e6:.1f} us here" + (
        f", {workers / n * 1e6:.1f} us in workers" if workers else ""
    )
    print(
        f"  {label}: {n:,} rows in {wall:.1f} s = {rate:,.0f} rows/s "
        f"({n / (own + workers):,.0f} per CPU second{split}), peak memory {memory}; "
        f"stored {report['decisions']:,} decisions + {report['rewards']:,} rewards, "
        f"quarantined {report['quarantined']:,}; load average {load:.1f}"
    )
    return rate


def ingest_benchmark(folder: Path, paths: dict[str, Path], baseline_events: int) -> None:
    short = head(paths, baseline_events, folder)
    for fmt, path in paths.items():
        print(f"ingest {fmt}:")
        full = measure(path, folder / f"{fmt.lower()}.db", again=True)
        _line("all events", full)
        wall, stored, duplicates, quarantined = full[4]
        print(
            f"  re-ingest: {wall:.1f} s = {full[0]['read'] / wall:,.0f} rows/s, stored "
            f"{stored}, duplicates {duplicates:,}, quarantined {quarantined:,}"
        )
        fast = _line(f"first {baseline_events:,}", measure(short[fmt], folder / f"{fmt}-fast.db"))
        slow = _line(
            "  baseline (full validation, writes inline)",
            measure(short[fmt], folder / f"{fmt}-slow.db", fast=False),
        )
        print(f"  default path / baseline: {fast / slow:.2f}x")


def logs(folder: Path, n: int, keep: Path | None) -> dict[str, Path]:
    """The logs of ``n`` events: those in ``keep`` when it has them (of the same size),
    else written there (or in ``folder``)."""
    import pyarrow.parquet as pq

    where = keep or folder
    paths = {"JSONL": where / "log.jsonl", "CSV": where / "log.csv"}
    paths["Parquet"] = where / "log.parquet"
    if keep and all(p.is_file() for p in paths.values()):
        if pq.ParquetFile(paths["Parquet"]).metadata.num_rows == n:
            print(f"reusing the logs in {keep}")
            return paths
    where.mkdir(parents=True, exist_ok=True)
    return write_logs(where, n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=100_000)
    parser.add_argument(
        "--logs", type=Path, help="a folder to keep the generated logs in and reuse them from"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = logs(folder, args.events, args.logs)
        ingest_benchmark(folder, paths, min(args.baseline_events, args.events))


if __name__ == "__main__":
    main()
