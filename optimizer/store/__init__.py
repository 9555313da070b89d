"""Store: campaigns, creatives, runs and append-only decision/reward events (sqlmodel).

The names below are imported when first used (PEP 562), so that a module needing only the
row builders (``optimizer.store.rows``, e.g. in an ingest worker) does not load SQLAlchemy
and pandas with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimizer.store.db import Store
    from optimizer.store.engine import DEFAULT_DATABASE_URL, connect
    from optimizer.store.events import EventBatch, Written
    from optimizer.store.models import SCHEMA_VERSION

_WHERE = {
    "Store": "db",
    "connect": "engine",
    "DEFAULT_DATABASE_URL": "engine",
    "EventBatch": "events",
    "Written": "events",
    "SCHEMA_VERSION": "models",
}
__all__ = ["Store", "connect", "DEFAULT_DATABASE_URL", "EventBatch", "Written", "SCHEMA_VERSION"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
