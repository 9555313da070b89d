"""Tables of the decision service, on the store's ``SQLModel.metadata``.

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


SERVE_TABLES = [ApiKeyRow.__table__, DeferredRow.__table__]  # type: ignore[attr-defined]


def ensure_tables(engine) -> None:
    """Create the service's tables where missing (migrations take over once they exist)."""
    SQLModel.metadata.create_all(engine, tables=SERVE_TABLES)
