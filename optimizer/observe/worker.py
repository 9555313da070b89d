"""Preparing a file's chunks in worker processes while this process writes them.

Each worker reads the file, prepares its share of the chunks (``prepare.prepare_file``:
chunk ``i`` goes to worker ``i mod n``) and sends them through a pipe; they are written in
file order. A pipe holds little, so a worker waits whenever the writer is behind: memory
stays flat for any file size. Workers are fresh interpreters (never a copy of this process,
nor a re-run of its main module); they never touch the database. When the ingesting
process dies, even by ``kill -9``, a worker's next send fails and it exits.
"""

from __future__ import annotations

import fcntl
import gc
import marshal
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from pathlib import Path

from optimizer.errors import OptimizerError
from optimizer.observe.blocks import Span
from optimizer.observe.prepare import Prepared, prepare_file
from optimizer.observe.validate import CampaignFacts

# A worker's interpreter takes the ingesting one's import path first (from stdin), then
# its arguments; ``boot.py`` starts it without the packages it does not need (``WITHOUT``).
BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from optimizer.observe.boot import main; main()"
)
WITHOUT = {"jsonl": ("pandas",), "csv": ("pandas",), "parquet": ()}


def _message(prepared: Prepared, span: Span) -> bytes:
    """A prepared chunk as marshal data (plain values: quick both ways, and it runs no
    code when loaded)."""
    p = prepared
    fields = (p.read, p.decisions, p.decision_lines, p.rewards, p.reward_lines, p.sets, p.bad)
    return marshal.dumps(("chunk", fields, tuple(vars(span).values())))


def _work(conn: Connection, path: str, fmt: str, facts, campaign, rows: int, part) -> None:
    try:
        for prepared, span in prepare_file(Path(path), fmt, facts, campaign, rows, part):
            conn.send_bytes(_message(prepared, span))
        conn.send_bytes(marshal.dumps(("end",)))
    except (BrokenPipeError, ConnectionResetError):  # the ingesting process is gone
        return
    except BaseException as exc:  # handed over, raised there
        try:
            conn.send_bytes(marshal.dumps(("error", pickle.dumps(exc))))
        except Exception:  # unpicklable, or the pipe is gone: the reader sees the end
            pass
    finally:
        conn.close()


def main() -> None:
    """A worker's entry point: arguments from stdin, chunks to the pipe in ``argv[1]``.
    The cyclic garbage collector stays off (``store.logged.paused_gc``, for a worker's
    whole life): the chunks make millions of objects but no cycles."""
    gc.disable()
    args = pickle.load(sys.stdin.buffer)
    sys.stdin.close()
    _work(Connection(int(sys.argv[1]), readable=False), *args)


PIPE_BYTES = 1 << 20  # a pipe's buffer (Linux: 64 KiB unless asked, 1 MiB at most by default)


def _widen(fd: int) -> None:
    """Give a pipe a buffer that holds a good part of a chunk: fewer reads and writes, and
    fewer switches between the two processes (where the system allows it)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or over the system's limit: as it is
        pass


class _Worker:
    """One worker process and the read end of its pipe."""

    def __init__(self, path: Path, args: tuple, without: tuple[str, ...] = ()) -> None:
        self.path = path
        read_end, write_end = os.pipe()
        _widen(write_end)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(write_end), *without],
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)
        self.pipe = Connection(read_end, writable=False)
        assert self.proc.stdin is not None
        with self.proc.stdin:
            pickle.dump(sys.path, self.proc.stdin)
            pickle.dump(args, self.proc.stdin)

    def next(self) -> tuple[Prepared, Span] | None:
        """The worker's next chunk; None at the end of its share."""
        try:
            message = marshal.loads(self.pipe.recv_bytes())
        except EOFError:
            raise OptimizerError(
                f"{self.path}: a process preparing the rows stopped (exit code "
                f"{self.proc.wait()}); run the ingest again, it resumes where it stopped"
            ) from None
        if message[0] == "error":
            raise pickle.loads(message[1])  # from our own worker
        if message[0] == "end":
            return None
        _, fields, span = message
        return Prepared(*fields), Span(*span)

    def close(self) -> None:
        self.pipe.close()  # a worker still sending gets a broken pipe and stops
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def prepared_elsewhere(
    path: Path,
    fmt: str,
    facts: Mapping[str, CampaignFacts],
    campaign: str | None,
    rows: int,
    workers: int = 1,
) -> Iterator[tuple[Prepared, Span]]:
    """``prepare_file``'s chunks in file order, prepared by ``workers`` processes."""
    args = (str(path), fmt, dict(facts), campaign, rows)
    started = [_Worker(path, (*args, (k, workers)), WITHOUT[fmt]) for k in range(workers)]
    try:
        for k in range(sys.maxsize):
            item = started[k % workers].next()
            if item is None:
                return
            yield item
    finally:
        for worker in started:
            worker.close()
