"""The first module an ingest worker's interpreter runs (``worker.BOOT``): it refuses the
packages named after the pipe's descriptor on its command line, then runs the worker.

A worker preparing JSONL or CSV runs without pandas, which it never uses: Arrow would import
it (a third of a second of CPU) only to ask whether the first Python value it converts is a
pandas object. A Parquet worker keeps it: Arrow gives nanosecond times as pandas'.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder


class Refused(MetaPathFinder):
    """Makes importing the packages ``names`` (and their modules) fail as if they were not
    installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} in an ingest worker", name=name)
        return None


def main() -> None:
    if len(sys.argv) > 2:
        sys.meta_path.insert(0, Refused(sys.argv[2:]))
    from optimizer.observe.worker import main as work

    work()
