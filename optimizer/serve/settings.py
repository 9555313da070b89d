"""Settings of one ``serve`` deployment: the command's flags, handed to every worker."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from optimizer.serve.decide import MODES
from optimizer.serve.schemas import MAX_BODY_BYTES

ENV = "CREATIVE_OPTIMIZER_SERVE"


@dataclass(frozen=True)
class ServeSettings:
    config: str  # the campaign file
    db: str  # SQLAlchemy URL of the store
    mode: str = "online"  # online | apprentice
    explore: float = 0.1  # apprentice: share of traffic drawn from the learner
    linger_ms: float = 0.0  # group commit: extra wait for company (0: batch what queued
    # while the previous batch was written, which adapts the batch size to the load)
    reload_s: float = 1.0  # how often workers look for a new policy version and keys
    learn_every_s: float = 30.0  # the learner's period; 0: no learner (use `learn`)
    max_body: int = MAX_BODY_BYTES
    state_dir: str = "runs"  # where the learner saves its versions

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not 0.0 <= self.explore < 1.0:
            raise ValueError("explore must be in [0, 1)")
        if self.linger_ms < 0 or self.reload_s <= 0 or self.learn_every_s < 0:
            raise ValueError("linger_ms and learn_every_s must be >= 0, reload_s > 0")
        if self.max_body < 1024:
            raise ValueError("max_body must be at least 1024 bytes")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(ENV)
        if not raw:
            raise RuntimeError(f"{ENV} is not set; start the service with `serve`")
        return cls(**json.loads(raw))
