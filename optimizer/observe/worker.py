"""Preparing a file's chunks in a second process while this one writes them.

The worker reads, checks and builds each chunk (``prepare.prepare_file``) and sends it
through a pipe. A pipe holds little, so the worker waits whenever the writer is behind: at
most one chunk is in the pipe, one queued and one being written, and memory stays flat for
any file size. When the ingesting process dies, even by ``kill -9``, the worker's next send
fails and it exits; it never writes to the database itself.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from optimizer.errors import OptimizerError
from optimizer.observe.blocks import Span
from optimizer.observe.prepare import Prepared, prepare_file
from optimizer.observe.validate import CampaignFacts


@dataclass(frozen=True)
class _Failed:
    """The worker's exception, for the ingesting process to raise."""

    error: BaseException


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector: ingestion allocates millions of short-lived
    containers and makes no reference cycles, and the collector's passes over them cost
    more than parsing (reference counting still frees everything)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _work(conn, path: str, fmt: str, facts: Mapping, campaign: str | None, rows: int) -> None:
    try:
        with no_cycle_collection():
            for item in prepare_file(Path(path), fmt, facts, campaign, rows):
                conn.send(item)
        conn.send(None)
    except (BrokenPipeError, ConnectionResetError):  # the ingesting process is gone
        return
    except BaseException as exc:  # handed over, raised there
        try:
            conn.send(_Failed(exc))
        except Exception:  # unpicklable, or the pipe is gone: the reader sees the end
            pass
    finally:
        conn.close()


# The worker's interpreter takes the ingesting one's import path first (from stdin), then
# the arguments: a fresh interpreter that never imports the caller's main module.
BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from optimizer.observe.worker import main; main()"
)


def main() -> None:
    """The worker's entry point: arguments from stdin, chunks to the pipe in ``argv[1]``."""
    args = pickle.load(sys.stdin.buffer)
    sys.stdin.close()
    _work(Connection(int(sys.argv[1]), readable=False), *args)


def prepared_elsewhere(
    path: Path, fmt: str, facts: Mapping[str, CampaignFacts], campaign: str | None, rows: int
) -> Iterator[tuple[Prepared, Span]]:
    """``prepare_file``'s chunks, prepared in a worker process."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(write_end)],
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    receiver = Connection(read_end, writable=False)
    try:
        assert proc.stdin is not None
        with proc.stdin:
            pickle.dump(sys.path, proc.stdin)
            pickle.dump((str(path), fmt, dict(facts), campaign, rows), proc.stdin)
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise OptimizerError(
                    f"{path}: the process preparing the rows stopped (exit code "
                    f"{proc.wait()}); run the ingest again, it resumes where it stopped"
                ) from None
            if item is None:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        receiver.close()  # a worker still sending gets a broken pipe and stops
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
