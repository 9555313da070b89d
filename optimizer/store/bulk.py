"""Idempotent bulk inserts: ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL,
a key check on other backends (run inside a serialised write transaction there)."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert, select, tuple_
from sqlalchemy.engine import Connection

IN_CHUNK = 500  # keys per IN (...) list


def _ignoring(conn: Connection, table: Table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        return None
    return dialect_insert(table).on_conflict_do_nothing()


def _key_columns(table: Table, keys: Sequence[str] | None):
    return [table.c[k] for k in keys] if keys else list(table.primary_key.columns)


def existing_keys(conn: Connection, table: Table, keys: Iterable[tuple], columns=None) -> set:
    """The keys (tuples of primary-key values) among ``keys`` stored in ``table``."""
    cols = columns or list(table.primary_key.columns)
    wanted = list(dict.fromkeys(keys))
    found: set[tuple] = set()
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        where = cols[0].in_([k[0] for k in chunk]) if len(cols) == 1 else tuple_(*cols).in_(chunk)
        found.update(tuple(r) for r in conn.execute(select(*cols).where(where)))
    return found


def insert_new(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str] = ()
) -> set[tuple]:
    """Insert ``rows``, skipping keys already stored (or earlier in ``rows``); returns the
    keys inserted. ``keys``: the key columns (default: the primary key)."""
    if not rows:
        return set()
    cols = _key_columns(table, keys)
    stmt = _ignoring(conn, table)
    if stmt is not None:
        return {tuple(r) for r in conn.execute(stmt.returning(*cols), list(rows))}
    names = [c.name for c in cols]
    taken = existing_keys(conn, table, (tuple(r[n] for n in names) for r in rows), cols)
    fresh, new = [], set()
    for r in rows:
        key = tuple(r[n] for n in names)
        if key not in taken and key not in new:
            new.add(key)
            fresh.append(r)
    if fresh:
        conn.execute(insert(table), fresh)
    return new


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` whose primary key is not stored yet; returns how many were new."""
    return len(insert_new(conn, table, rows))


# -- SQLite: the DB-API connection directly (multi-row INSERTs of packed rows) ----------------
ROWS_PER_INSERT = 1_000  # rows per INSERT statement (fewer when the variable limit is lower)


def _dbapi(conn: Connection):
    return conn.connection.dbapi_connection


@functools.lru_cache(maxsize=64)
def _values_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = "(" + ", ".join("?" * len(columns)) + ")"
    quoted = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join([one] * rows)
    return f'INSERT INTO "{table}" ({quoted}) VALUES {values} ON CONFLICT DO NOTHING'


def _rows_per_insert(dbapi, width: int) -> int:
    try:
        limit = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        limit = 999
    return max(1, min(ROWS_PER_INSERT, limit // width))


def sqlite_insert_rows(conn: Connection, table: Table, rows: Sequence[tuple]) -> int:
    """Insert packed rows (tuples in table column order, values as SQLite stores them)
    with multi-row ``INSERT ... ON CONFLICT DO NOTHING``; returns how many were inserted."""
    if not rows:
        return 0
    columns = tuple(c.name for c in table.columns)
    dbapi = _dbapi(conn)
    per = _rows_per_insert(dbapi, len(columns))
    cursor = dbapi.cursor()
    inserted = 0
    try:
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            sql = _values_sql(table.name, columns, len(chunk))
            cursor.execute(sql, list(itertools.chain.from_iterable(chunk)))
            inserted += cursor.rowcount
    finally:
        cursor.close()
    return inserted


def sqlite_digests(
    conn: Connection, table: Table, key: Sequence[str], keys: Sequence[tuple]
) -> dict[tuple, str]:
    """Stored ``digest`` by key for ``keys`` (looked up by the key's first column)."""
    import orjson

    first = list(dict.fromkeys(k[0] for k in keys))
    cols = ", ".join(f'"{c}"' for c in key)
    sql = (
        f'SELECT {cols}, digest FROM "{table.name}" '
        f'WHERE "{key[0]}" IN (SELECT value FROM json_each(?))'
    )
    wanted, out = set(keys), {}
    cursor = _dbapi(conn).cursor()
    try:
        for *k, digest in cursor.execute(sql, (orjson.dumps(first).decode(),)):
            if tuple(k) in wanted:
                out[tuple(k)] = digest
    finally:
        cursor.close()
    return out


# -- PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT ---------------------
def pg_insert_rows(conn: Connection, table: Table, rows: Sequence[tuple]) -> set[tuple]:
    """Insert packed rows (tuples in table column order) skipping stored keys (the first of
    equal keys in ``rows`` wins); returns the primary keys inserted. The rows are copied
    (``COPY``) into a temporary table, emptied at commit, and inserted with one ``INSERT
    ... SELECT ... ON CONFLICT DO NOTHING RETURNING``."""
    if not rows:
        return set()
    columns = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    quoted = ", ".join(f'"{c}"' for c in columns)
    temp = f'"_incoming_{table.name}"'
    cursor = _dbapi(conn).cursor()
    try:
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS {temp} (LIKE "{table.name}", _n bigint) '
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {temp} ({quoted}, _n) FROM STDIN") as copy:
            for n, row in enumerate(rows):
                copy.write_row((*row, n))
        cursor.execute(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM {temp} ORDER BY _n '
            "ON CONFLICT DO NOTHING RETURNING " + ", ".join(f'"{k}"' for k in keys)
        )
        inserted = {tuple(r) for r in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {temp}")
        return inserted
    finally:
        cursor.close()


def digests(
    conn: Connection, table: Table, key: Sequence[str], keys: Sequence[tuple]
) -> dict[tuple, str]:
    """Stored ``digest`` by key for ``keys`` (SQLite or PostgreSQL; looked up by the key's
    first column)."""
    if conn.dialect.name == "sqlite":
        return sqlite_digests(conn, table, key, keys)
    first = list(dict.fromkeys(k[0] for k in keys))
    cols = ", ".join(f'"{c}"' for c in key)
    sql = f'SELECT {cols}, digest FROM "{table.name}" WHERE "{key[0]}" = ANY(%s)'
    wanted, out = set(keys), {}
    cursor = _dbapi(conn).cursor()
    try:
        for *k, digest in cursor.execute(sql, (first,)):
            if tuple(k) in wanted:
                out[tuple(k)] = digest
    finally:
        cursor.close()
    return out
