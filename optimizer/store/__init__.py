"""Store: campaigns, creatives, runs and append-only decision/reward events (sqlmodel)."""

from optimizer.store.db import Store, connect
from optimizer.store.models import SCHEMA_VERSION

__all__ = ["Store", "connect", "SCHEMA_VERSION"]
