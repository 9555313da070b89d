"""API keys: ``co_<id>_<secret>``, stored as the SHA-256 digest of the whole key.

The secret is 32 random bytes, so a fast digest is enough: there is no dictionary to try
and no rainbow table for 256 random bits, which is what salted slow hashes (scrypt,
PBKDF2) defend low-entropy passwords against, and a slow hash would cost milliseconds on
every request. Verification compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from optimizer.errors import OptimizerError
from optimizer.serve.models import ApiKeyRow
from optimizer.store.models import utcnow

PREFIX = "co"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


@dataclass(frozen=True)
class KeyInfo:
    id: str
    campaign: str
    name: str
    created_at: str
    revoked_at: str | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        campaign=row.campaign,
        name=row.name,
        created_at=row.created_at.isoformat(),
        revoked_at=row.revoked_at.isoformat() if row.revoked_at else None,
    )


def create_key(store, campaign: str, name: str = "") -> tuple[str, KeyInfo]:
    """A new key for ``campaign``; the key itself is returned once and never stored."""
    store.campaign(campaign)  # raises, naming the known campaigns, when it is not stored
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(id=key_id, campaign=campaign, digest=digest(key), name=name)
    with Session(store.engine) as s:
        s.add(row)
        s.commit()
        s.refresh(row)
        return key, _info(row)


def list_keys(store, campaign: str | None = None) -> list[KeyInfo]:
    with Session(store.engine) as s:
        q = select(ApiKeyRow)
        if campaign is not None:
            q = q.where(ApiKeyRow.campaign == campaign)
        return [_info(r) for r in s.execute(q.order_by(ApiKeyRow.created_at)).scalars()]


def revoke_key(store, key_id: str) -> KeyInfo:
    """Revoke by id (the part after ``co_``); serving workers drop it within a reload."""
    with Session(store.engine) as s:
        row = s.get(ApiKeyRow, key_id)
        if row is None:
            raise OptimizerError(f"no API key {key_id!r}; `keys list` shows the ids")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
            s.commit()
            s.refresh(row)
        return _info(row)


class KeyRing:
    """The active keys of a database, held in memory by a serving worker and reloaded."""

    def __init__(self) -> None:
        self._digests: dict[str, tuple[str, str]] = {}  # id -> (digest, campaign)
        self._verified: dict[str, str] = {}  # key -> campaign, until the next load

    def load(self, engine) -> None:
        with Session(engine) as s:
            q = select(ApiKeyRow.id, ApiKeyRow.digest, ApiKeyRow.campaign).where(
                ApiKeyRow.revoked_at.is_(None)  # type: ignore[union-attr]
            )
            digests = {i: (d, c) for i, d, c in s.execute(q)}
        if digests != self._digests:
            self._digests, self._verified = digests, {}

    def campaign_of(self, key: str) -> str | None:
        """The campaign ``key`` is scoped to, or None for an unknown or revoked key."""
        known = self._verified.get(key)
        if known is not None:
            return known
        key_id = _key_id(key)
        entry = self._digests.get(key_id) if key_id else None
        if entry is None or not hmac.compare_digest(entry[0], digest(key)):
            return None
        if len(self._verified) < 10_000:
            self._verified[key] = entry[1]
        return entry[1]
