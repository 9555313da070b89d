"""Alembic environment: migrations run on the connection that ``schema.initialise`` passes
in ``config.attributes["connection"]``, inside its locked transaction (never on their own)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through optimizer.store.schema.initialise (it holds the lock), "
        "not the alembic command line"
    )
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
