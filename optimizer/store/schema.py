"""Create or upgrade a database's schema with the Alembic migrations, race-free.

``initialise`` reads the database's revision (one cheap query, no Alembic import); when it
is not the newest, it takes a database-wide lock and runs the migrations inside one
transaction:

- SQLite: ``BEGIN IMMEDIATE`` (the database's write lock; a second process waits for it,
  then finds the schema made and does nothing). DDL is transactional in SQLite, so a
  killed migration leaves the database as it was.
- PostgreSQL: ``pg_advisory_xact_lock`` in a transaction (DDL is transactional there too).

A database made before migrations existed (tables from ``create_all`` and
``meta.schema_version = '1'``, no ``alembic_version``) is stamped at revision 0001 and
upgraded in place.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from optimizer.errors import OptimizerError
from optimizer.store.engine import SCHEMA_LOCK, write_transaction
from optimizer.store.models import SCHEMA_VERSION

HEAD = "0004"  # the newest revision in migrations/versions (checked by the tests)
REVISIONS = ("0001", "0002", "0003", "0004")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(conn: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None when it has none (new, or made before)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table (yet)
        return None


def initialise(engine: Engine, url: str) -> None:
    """Bring the schema to ``HEAD``; a no-op (one query) when it is there already."""
    try:
        if revision(engine) == HEAD:
            return
        with write_transaction(engine, lock=SCHEMA_LOCK) as conn:
            _upgrade(conn, url)
    except DBAPIError as exc:
        raise OptimizerError(f"cannot open database {url!r}: {exc.orig}") from None


def _upgrade(conn: Connection, url: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(conn).get_current_revision()
    if current == HEAD:  # another process made it while this one waited for the lock
        return
    if current is None and inspect(conn).has_table("meta"):
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'"))
        found = version.scalar()
        if found != "1":
            raise OptimizerError(
                f"database {url!r} has schema version {found}, which this version of the "
                f"tool cannot upgrade (it upgrades 1 to {SCHEMA_VERSION}); see CHANGELOG.md"
            )
        command.stamp(alembic_config(conn), "0001")
    elif current is not None and current not in REVISIONS:
        raise OptimizerError(
            f"database {url!r} has schema revision {current}, newer than this version of "
            f"the tool knows ({HEAD}); upgrade creative-optimizer"
        )
    command.upgrade(alembic_config(conn), "head")
