"""The state of one serving worker: config, store, served policy, keys, journal.

Everything slow (loading a model, reading keys, writing events) runs off the event loop;
the served policy is swapped by assigning one attribute, so a request sees either the old
or the new version, never a mix, and none is dropped during a reload.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import numpy as np

from optimizer.config import load_config
from optimizer.serve import metrics
from optimizer.serve.journal import Journal
from optimizer.serve.keys import KeyRing
from optimizer.serve.policy import Served, fingerprint, load_served
from optimizer.serve.settings import ServeSettings
from optimizer.store import Store

log = logging.getLogger("optimizer.serve")


def serving_rng() -> np.random.Generator:
    """A worker's own generator, seeded from OS entropy: live traffic has no reproducible
    order, and workers sharing a seed would draw the same sequence."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence()))


def prepare_store(settings: ServeSettings):
    """(campaign config, store) with the campaign and its seed creatives in place; shared by
    the workers, the learner and the CLI."""
    from optimizer.generate import seed_creatives

    cfg = load_config(settings.config)
    store = Store(settings.db)
    store.save_campaign(cfg)
    store.add_creatives(seed_creatives(cfg))  # existing ids (and retirements) are kept
    return cfg, store


class Service:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.cfg, self.store = prepare_store(settings)
        self.campaign = self.cfg.name
        self.window = timedelta(hours=self.cfg.attribution.window_hours)
        self.kinds = list(self.cfg.attribution.kinds)
        self.keys = KeyRing()
        self.keys.load(self.store.engine)
        self.served: Served = load_served(self.store, self.cfg)
        metrics.set_version(self.served.version)
        self.rng = serving_rng()
        self.journal: Journal | None = None
        self._reloader: asyncio.Task | None = None

    async def start(self) -> None:
        self.journal = Journal(self.store.engine, linger=self.settings.linger_ms / 1000)
        self.journal.start()
        self._reloader = asyncio.get_running_loop().create_task(self._reload_forever())

    async def stop(self) -> None:
        if self._reloader is not None:
            self._reloader.cancel()
        if self.journal is not None:
            await self.journal.stop()
        metrics.flush()
        self.store.engine.dispose()

    async def reload(self) -> bool:
        """Swap in a new policy version or creative pool when the store has one."""
        mark = await asyncio.to_thread(fingerprint, self.store, self.campaign)
        await asyncio.to_thread(self.keys.load, self.store.engine)
        if mark == self.served.fingerprint:
            return False
        served = await asyncio.to_thread(load_served, self.store, self.cfg)
        self.served = served
        metrics.set_version(served.version)
        log.info("serving policy version %s", served.version)
        return True

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_s)
            metrics.flush()  # the per-request counts, once a second (see metrics)
            try:
                await self.reload()
            except Exception:  # keep serving the current version; the log says why
                log.exception("reload failed; still serving %s", self.served.version)
