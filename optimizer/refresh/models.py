"""The expensive models a campaign's rounds share, built on first use."""

from __future__ import annotations

from pathlib import Path

from optimizer.config import CampaignConfig


class Models:
    """The generator backend and the screener (with its embedder) of one campaign.

    Pass ``backend`` or ``screener`` to use ready ones (tests use fakes); otherwise each is
    built from the config the first time it is asked for."""

    def __init__(self, cfg: CampaignConfig, backend=None, screener=None) -> None:
        self.cfg = cfg
        self._backend = backend
        self._screener = screener

    @property
    def backend(self):  # optimizer.generate.backends.Backend
        if self._backend is None:
            from optimizer.generate.pipeline import make_backend

            self._backend = make_backend(self.cfg)
        return self._backend

    @property
    def screener(self):  # optimizer.filter.screen.Screener
        if self._screener is None:
            from optimizer.filter.screen import Screener

            self._screener = Screener.build(self.cfg)
        return self._screener

    def load_adapter(self, adapter: str | None) -> None:
        """Serve the generator with a saved LoRA adapter (a resumed refresh)."""
        if adapter:
            self.backend.load_adapter(Path(adapter))
