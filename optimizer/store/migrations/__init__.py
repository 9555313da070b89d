"""Alembic migrations of the store's schema (run by ``optimizer.store.schema.initialise``)."""
