"""One seed per run, split into independent named generator streams.

Each stage receives its own :class:`numpy.random.Generator`; the integer seed is never passed
down and the global ``np.random`` state is never used. ``Streams.fresh(name)`` returns a new
generator from the same child seed every time, so several policies can face the same users
and the same click draws (common random numbers) on one seed.
"""

from __future__ import annotations

import numpy as np

# New names go at the end: a stream's seed depends on its position, so appending keeps every
# existing stream's numbers. ``evaluation``: the fixed users a pool's true value is measured
# on; ``finetune``: the examples and LoRA training order of a generator refresh.
STREAMS = (
    "users",
    "clicks",
    "policy",
    "simulator",
    "generate",
    "bootstrap",
    "evaluation",
    "finetune",
)


class Streams:
    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = seed
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        self._children = dict(zip(STREAMS, children, strict=True))

    def fresh(self, name: str) -> np.random.Generator:
        """A new generator for stream ``name``; the same sequence on every call."""
        try:
            child = self._children[name]
        except KeyError:
            raise ValueError(f"unknown stream {name!r}; valid: {', '.join(STREAMS)}") from None
        return np.random.Generator(np.random.PCG64(child))

    def round(self, k: int) -> Streams:
        """Independent streams for round ``k`` of a campaign: a run resumed at round ``k``
        draws exactly what an uninterrupted run would have."""
        child = Streams.__new__(Streams)
        child.seed = self.seed
        children = np.random.SeedSequence([self.seed, k]).spawn(len(STREAMS))
        child._children = dict(zip(STREAMS, children, strict=True))
        return child

    def int_seed(self, name: str) -> int:
        """A 31-bit integer for libraries that only take an int (VW, torch)."""
        return int(self.fresh(name).integers(0, 2**31 - 1))


def seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
