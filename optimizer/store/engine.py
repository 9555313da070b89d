"""Engines and write transactions, per backend.

SQLite files run in WAL mode (readers never block the writer) with ``synchronous=NORMAL``
(a committed transaction survives a killed process; only a power cut may lose the last
ones) and wait up to ``BUSY_TIMEOUT`` seconds for another process's lock. A new file gets
``PAGE_SIZE`` pages: fewer pages to write, to the log and then to the file, for the same
rows (a bulk ingest takes about a tenth less CPU in SQLite than with the default 4 KiB). A
write transaction starts with ``BEGIN IMMEDIATE``, so two writers queue instead of failing
half-way. On PostgreSQL a write transaction that must be serialised takes a
transaction-level advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import create_engine

from optimizer.errors import OptimizerError

DEFAULT_DATABASE_URL = "sqlite:///runs/optimizer.db"
BUSY_TIMEOUT = 60.0  # seconds a SQLite connection waits for another process's lock
PAGE_SIZE = 16_384  # bytes per page of a new SQLite file (an existing one keeps its own)
# Keys of PostgreSQL advisory locks (any 64-bit integers, fixed for this application).
SCHEMA_LOCK = 0x636F_0001  # initialisation and migrations
EVENTS_LOCK = 0x636F_0002  # event writes: the duplicate check and the insert are one step
CATALOG_LOCK = 0x636F_0003  # read-then-write updates of campaigns, runs, rounds, policies


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another backend or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def connect(url: str) -> Engine:
    """An engine for ``url``.

    The folder of a SQLite file must exist, except for the default
    ``sqlite:///runs/optimizer.db``, whose ``runs/`` folder is the tool's own state folder
    and is created on first use (a typo in a path given by hand should fail, not grow a
    stray tree of folders).
    """
    try:
        path = sqlite_file(url)
    except ArgumentError:
        raise OptimizerError(
            f"database URL {url!r} is not a valid SQLAlchemy URL; "
            f"use e.g. {DEFAULT_DATABASE_URL} or postgresql+psycopg://user@host/db"
        ) from None
    if path is not None and not path.parent.is_dir():
        if url == DEFAULT_DATABASE_URL:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            raise OptimizerError(
                f"database URL {url!r}: the folder {str(path.parent)!r} does not exist; "
                "create it first (mkdir -p) or give a path in an existing folder"
            )
    try:
        if path is None:
            return create_engine(url)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT})
    except Exception as exc:  # missing driver, bad options
        raise OptimizerError(f"database URL {url!r}: {exc}") from None
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL mode, which fixes it
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except Exception:  # another process is switching it at this moment: it persists anyway
        pass
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def write_transaction(engine: Engine, lock: int | None = None) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends (rolled back on an
    exception). SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at once.
    PostgreSQL: ``lock`` names an advisory lock held until the transaction ends."""
    with engine.connect() as conn, begin_write(conn, lock):
        yield conn


@contextmanager
def begin_write(conn: Connection, lock: int | None = None) -> Iterator[Connection]:
    """:func:`write_transaction` on a connection the caller holds."""
    conn.begin()  # a session bound to ``conn`` joins this transaction
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql" and lock is not None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
