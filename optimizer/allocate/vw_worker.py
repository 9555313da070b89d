"""A worker process whose VW learns from example text written to its stdin.

``python -m optimizer.allocate.vw_worker JOB`` builds the policy ``JOB`` (JSON) names with
``-d /dev/stdin`` added, so VW's own parser and learner threads read the examples as they
come, then saves the policy. See :mod:`optimizer.allocate.vw_logged`.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from optimizer.allocate.newcomers import Newcomers
from optimizer.allocate.vw import LEARNING, FeatureScale, VWPolicy, restore_thompson
from optimizer.errors import OptimizerError

QUEUED_CHUNKS = 4


@dataclass(frozen=True)
class PolicySpec:
    """What a worker needs to build the policy: the arguments of :class:`VWPolicy`
    (``learning``: its VW learning settings, None for the policy's default)."""

    exploration: str
    params: dict[str, float]
    seed: int
    learning: tuple[str, ...] | None = None

    def policy(self, extra_args: Sequence[str] = ()) -> VWPolicy:
        more = {} if self.learning is None else {"learning": self.learning}
        return VWPolicy(self.exploration, self.params, self.seed, extra_args=extra_args, **more)

    def for_nodes(self, total: int) -> PolicySpec:
        """The policy ``total`` nodes train: this one alone; with AllReduce, the same with
        gd. VW averages the nodes' weights at the end of a pass in gd only (``gd.cc``;
        the end of pass of ``ftrl.cc``, behind ``--coin``, ``--pistol`` and ``--ftrl``,
        reduces nothing, so each node would keep a model of its own share)."""
        if total == 1:
            return self
        kept = tuple(a for a in self.learning_args() if a not in _NOT_REDUCED)
        return replace(self, learning=kept)

    def learning_args(self) -> tuple[str, ...]:
        return tuple(self.learning) if self.learning is not None else tuple(LEARNING)


_NOT_REDUCED = ("--coin", "--pistol", "--ftrl")


class Worker:
    """A child process whose VW learns from the text written to its stdin.

    A thread writes the chunks (``write`` releases the GIL while VW reads), so the next
    chunk is formatted while VW learns from the last; at most ``QUEUED_CHUNKS`` wait."""

    def __init__(self, spec: PolicySpec, extra: list[str], model: Path, node: int, state: Path):
        self.model, self.log, self.node = model, model.with_suffix(".log"), node
        self.events = 0  # sent so far
        job = {**spec.__dict__, "extra": extra, "model": str(model), "node": node}
        job["state"] = str(state)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "optimizer.allocate.vw_worker", json.dumps(job)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.broken = False
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def _write(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if not self.broken:
                try:
                    self.proc.stdin.write(chunk)
                except OSError:  # VW stopped reading: it failed, see error()
                    self.broken = True
        try:
            self.proc.stdin.close()
        except OSError:
            self.broken = True

    def send(self, text: str, events: int) -> None:
        """Queue the text of ``events`` events."""
        if self.broken:
            self.proc.wait()
            raise self.error()
        self._chunks.put(text.encode())
        self.events += events

    def close(self) -> None:
        """End of the examples: VW finishes the pass (and its AllReduce) once it reads it."""
        self._chunks.put(None)
        self._writer.join()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._writer.is_alive():  # its writes fail now; let it drain and stop
            self._chunks.put(None)
            self._writer.join()

    def error(self) -> OptimizerError:
        return failed(self.log.read_text(errors="replace") or f"exit {self.proc.returncode}")


def failed(message: str) -> OptimizerError:
    """VW's (or a worker's) error as one line: the last exception a traceback names (VW's
    threads may print more after it), else the last line."""
    raised = _RAISED.findall(message)
    lines = message.strip().splitlines()
    why = raised[-1] if raised else lines[-1] if lines else "no reason given"
    return OptimizerError(f"VW failed learning from logs: {why}")


_RAISED = re.compile(r"^[\w.]*(?:Error|Exception): (.+)$", re.MULTILINE)


def wait_all(workers: list[Worker]) -> None:
    """Wait for every worker; the first failure stops the others (which would wait for it in
    AllReduce) and is raised."""
    while True:
        codes = [w.proc.poll() for w in workers]
        broken = [w for w, c in zip(workers, codes, strict=True) if c not in (None, 0)]
        if broken:
            raise broken[0].error()
        if all(c == 0 for c in codes):
            return
        time.sleep(0.02)


def main(job: dict) -> None:
    """Worker body: VW reads the examples from stdin with its own parser and learns; the
    bookkeeping of the policy that wrote them (feature scale, newcomers' trials) and the
    number of events this node learned (saved by the parent before the end of the
    examples) go into the saved policy."""
    learning = None if job["learning"] is None else tuple(job["learning"])
    spec = PolicySpec(job["exploration"], job["params"], job["seed"], learning)
    policy = spec.policy(extra_args=["-d", "/dev/stdin", *job["extra"]])
    state = json.loads(Path(job["state"]).read_text())
    policy.scale = FeatureScale.from_json(state["scale"])
    policy.newcomers = Newcomers.from_json(state["newcomers"])
    policy.thompson = restore_thompson(state.get("thompson"), spec.seed)
    policy.updates = state["events"][str(job["node"])]
    policy.save(Path(job["model"]))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
