"""Run identity: deterministic run keys, library versions, simulated time, file digests.

Low in the house: every stage, the loop and the CLI may import it; it imports no stage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


def run_key(*parts: object) -> str:
    """A deterministic run id: the same campaign, seed and settings give the same id."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a run's results depend on (stored with each run)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("creative-optimizer", "vowpalwabbit", "numpy", "sqlmodel", "torch", "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Clock:
    """Simulated event time: ``start + i * step`` seconds for impression ``i``."""

    start: float
    step: float

    def at(self, i: int) -> float:
        return self.start + i * self.step
