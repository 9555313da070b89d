"""Tables of the decision service, on the store's ``SQLModel.metadata``; the store's
migration 0003 makes them.

``api_key``: keys stored as a SHA-256 digest, scoped to one campaign. ``deferred_decision``:
decisions ranked with ``deferActivation`` that wait for ``/activate`` before they enter the
``decision`` table (a decision never activated is never learned from).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from optimizer.store.models import utcnow


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(primary_key=True)  # the public part of the key, e.g. "k3f9a1c2"
    campaign: str = Field(index=True)
    digest: str  # sha256 hex of the whole key
    name: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class DeferredRow(SQLModel, table=True):
    __tablename__ = "deferred_decision"
    event_id: str = Field(primary_key=True)
    campaign: str = Field(index=True)
    decision: dict = Field(sa_column=Column(JSON, nullable=False))  # the decision row to write
    created_at: datetime = Field(default_factory=utcnow)
    activated_at: datetime | None = None


SERVE_TABLES = ("api_key", "deferred_decision")  # made by migration 0003
