from tests.store.pg import db_url  # noqa: F401  (the fixture, on both backends)
