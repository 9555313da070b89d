"""Learning throughput from logs: the closed events of a store into a VW policy.

Each measurement runs in a fresh process (its peak memory and CPU, and its VW workers',
are its own), on the store's closed events:
- the learning core on all N events: the events formatted as VW text here and learned by
  VW's own parser in one worker process (the model of the one-by-one path);
- the same with ``--workers`` processes averaging with AllReduce (a different model);
- the ``learn`` command's library call, read and join of rewards to decisions included:
  streamed (each chunk of the store learned while the next is read), and reading and
  joining the whole log first (``stream=False``, the command before it streamed), on the
  same events in the same run;
- the read and join alone (``closed_events``), now and before;
- on the first ``--baseline-events`` events, the one-by-one pyvw path (the path before
  the text one, kept as the reference) and the text path, measured in the same run.
Prints events/s (wall and per CPU second, parent and workers together), peak memory and
the ratio to the baseline; asserts nothing. Wall-clock rates depend on what else runs on
the machine; the per-CPU-second rates much less.

Run alone: ``.venv/bin/python benchmarks/learn_logs.py [--events 1000000]
[--baseline-events 50000] [--workers 2]`` (``benchmarks/offline.py`` runs it on the store
its ingest benchmark fills).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"
BEFORE = ", join before"  # a measurement named so runs the reference join of pairs
WHOLE = "command, whole log read first"


def _usage() -> tuple[float, float]:
    """CPU seconds of this process and of its children that have been waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class WorkerPeak(threading.Thread):
    """The largest peak resident memory (VmHWM, MB) of this process's children while they
    run, polled from /proc (Linux); the children's ru_maxrss would count the parent's pages
    they had between fork and exec."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = 0.0, threading.Event()

    def run(self) -> None:
        me = str(os.getpid())
        while not self.done.wait(0.1):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    if stat.read_text().rsplit(")", 1)[1].split()[1] != me:
                        continue
                    status = (stat.parent / "status").read_text()
                except (OSError, IndexError):
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak = max(self.peak, int(line.split()[1]) / 1024)


def _run(db: str, what: str, n: int, workers: int, results) -> None:
    """In a fresh process: one measurement (``what``) on the first ``n`` closed events."""
    import optimizer.offline
    from optimizer.allocate.vw import VWPolicy
    from optimizer.allocate.vw_logged import (
        PolicySpec,
        frame_chunks,
        id_creatives,
        learn_events,
        learn_one_by_one,
    )
    from optimizer.config import load_config
    from optimizer.evaluate.targets import candidate_lists
    from optimizer.observe.join import join_rewards_by_pairs
    from optimizer.offline import closed_events, learn_from_logs
    from optimizer.store import Store
    from optimizer.store.logged import decision_count

    store, name = Store(f"sqlite:///{db}"), load_config(EXAMPLE).name
    scratch = tempfile.TemporaryDirectory(prefix="learn-bench-")
    folder = Path(scratch.name)
    watch = WorkerPeak()
    share = 0.0  # of the closed events held out, to learn from the first n
    if what.startswith("command") and n < decision_count(store.engine, name):
        share = 1.0 - n / len(closed_events(store, name).events)  # (peak memory counts this)
    if what.endswith(BEFORE):  # the join as it was, in this process only
        optimizer.offline.join_rewards = join_rewards_by_pairs
    if what.startswith("read and join"):
        watch.start()
        before, wall = _usage(), time.perf_counter()
        n = len(closed_events(store, name).events)
    elif what.startswith("command"):
        watch.start()
        before, wall = _usage(), time.perf_counter()
        info = learn_from_logs(store, name, folder, test_share=share, stream=what != WHOLE)
        n = info["train_events"]
    else:
        events = closed_events(store, name).events.iloc[:n]
        n = len(events)
        spec = PolicySpec("squarecb", {}, seed=0)
        watch.start()
        before, wall = _usage(), time.perf_counter()
        if what == "one by one":
            policy = VWPolicy("squarecb", {}, seed=0)
            learn_one_by_one(policy, events, candidate_lists(events), id_creatives())
            policy.save(folder / "policy.vw")
        else:
            nodes = list(range(workers))
            chunks = frame_chunks(events, candidate_lists(events))
            learn_events(spec, chunks, folder / "policy.vw", nodes, workers, None, 1)
    wall, after = time.perf_counter() - wall, _usage()
    watch.done.set()
    watch.join()
    scratch.cleanup()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    results.put((n, wall, after[0] - before[0], after[1] - before[1], peak, watch.peak))


def measure(db: Path, what: str, n: int, workers: int = 1) -> float:
    """Run one measurement in a fresh process, print it and return its events/s."""
    ctx = multiprocessing.get_context("forkserver")
    results = ctx.Queue()
    proc = ctx.Process(target=_run, args=(str(db), what, n, workers, results))
    proc.start()
    while True:
        try:
            n, wall, cpu, worker_cpu, peak, worker_peak = results.get(timeout=1)
            break
        except queue.Empty:
            if not proc.is_alive():
                print(f"  {what}: failed (exit {proc.exitcode}; its error is above)")
                return float("nan")
    proc.join()
    print(
        f"  {what}: {n:,} events in {wall:.1f} s = {n / wall:,.0f} events/s "
        f"({n / (cpu + worker_cpu):,.0f} per CPU second: {cpu:.1f} s here, {worker_cpu:.1f} s "
        f"in VW workers); peak memory {peak:,.0f} MB here, {worker_peak:,.0f} MB in a worker; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return n / wall


def learn_benchmark(db: Path, events: int, baseline_events: int, workers: int) -> None:
    """Print the learning measurements on the store at ``db`` (see the module docstring)."""
    print(f"learn from logs (store {db.name}):")
    measure(db, "text path, 1 worker", events)
    if workers > 1:
        measure(db, "text path, AllReduce", events, workers)
    now = measure(db, "command", events)
    then = measure(db, WHOLE, events)
    print(f"  command / command reading the whole log first: {now / then:.2f}x")
    now, then = (measure(db, "read and join" + w, events) for w in ("", BEFORE))
    print(f"  read and join / before: {now / then:.1f}x")
    print(f" on the first {baseline_events:,} events:")
    fast = measure(db, "text path, 1 worker", baseline_events)
    slow = measure(db, "one by one", baseline_events)
    print(f"  text path / one by one: {fast / slow:.1f}x")


def main() -> None:
    from ingest_logs import write_logs

    from optimizer.config import load_config
    from optimizer.offline import ingest_files
    from optimizer.store import Store

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2, help="AllReduce workers (1: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = write_logs(folder, args.events)["JSONL"]
        t0 = time.perf_counter()
        ingest_files(
            Store(f"sqlite:///{folder / 'log.db'}"), [str(log)], config=load_config(EXAMPLE)
        )
        print(f"ingested the JSONL log in {time.perf_counter() - t0:.0f} s")
        learn_benchmark(folder / "log.db", args.events, args.baseline_events, args.workers)


if __name__ == "__main__":
    main()
