"""Store: campaigns, creatives, runs and append-only decision/reward events (sqlmodel)."""

from optimizer.store.db import Store
from optimizer.store.engine import DEFAULT_DATABASE_URL, connect
from optimizer.store.events import EventBatch, Written
from optimizer.store.models import SCHEMA_VERSION

__all__ = ["Store", "connect", "DEFAULT_DATABASE_URL", "EventBatch", "Written", "SCHEMA_VERSION"]
