"""Schema migrations: the models match the migrated schema, an old database upgrades in
place with its events intact, and first-time initialisation is safe under concurrency."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from optimizer.errors import OptimizerError
from optimizer.serve import models as serve_tables
from optimizer.store import SCHEMA_VERSION, Store
from optimizer.store import models as tables
from optimizer.store.schema import HEAD, REVISIONS, alembic_config
from tests.store.test_store import event

V1_SCHEMA = Path(__file__).parent / "data" / "schema_v1.sql"
# the store's tables and the decision service's (migration 0003), whichever tests ran first
STORE_TABLES = {
    m.__tablename__
    for module in (tables, serve_tables)
    for m in vars(module).values()
    if isinstance(m, type) and hasattr(m, "__table__") and m.__module__ == module.__name__
}


def test_head_is_the_newest_migration():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD
    assert sorted(r.revision for r in script.walk_revisions()) == list(REVISIONS)


def test_the_models_match_the_migrated_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    store = Store(db_url)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in STORE_TABLES,
            },
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    assert len(STORE_TABLES) == 16


def _old_database(url: str) -> None:
    """A database as the store made it before migrations: the version-1 tables (revision
    0001 makes them as ``create_all`` did), ``meta.schema_version = '1'``, no
    ``alembic_version``."""
    from alembic import command

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def _old_rows(url: str, example_cfg) -> None:
    engine = create_engine(url)
    config = json.dumps(example_cfg.model_dump(mode="json"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO campaign VALUES (:n, 'p', 'b', '', 'h', :c, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"n": example_cfg.name, "c": config},
        )
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO decision VALUES (:e, NULL, :t, 'stride-spring', 'beginners', "
                    "'{\"age\": 30.0}', :c, 'a', 0.5, 'vw', 'vw-squarecb-0')"
                ),
                {"e": f"ev-{i}", "t": f"2023-11-14 22:13:2{i}", "c": json.dumps(["a", "b"])},
            )
            conn.execute(
                text("INSERT INTO reward VALUES (:e, 'click', :v, :t)"),
                {"e": f"ev-{i}", "v": float(i % 2), "t": f"2023-11-14 22:13:2{i}"},
            )
        conn.execute(
            text(
                "INSERT INTO performance_report VALUES ('stride-spring', '', 'x', "
                "'2026-03-01', 'Run', '', 100, 3, NULL)"
            )
        )
    engine.dispose()


def _upgraded(url: str, example_cfg) -> None:
    """Opens an old database with its rows, and checks the events survived the upgrade."""
    _old_rows(url, example_cfg)
    store = Store(url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        meta = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'"))
        assert meta.scalar() == str(SCHEMA_VERSION)
    events = store.logged_events("stride-spring")
    assert list(events.event_id) == ["ev-0", "ev-1", "ev-2"]
    assert [list(c) for c in events.candidates] == [["a", "b"]] * 3
    assert list(events.reward_value) == [0.0, 1.0, 0.0]
    # the converted digests are the ones the store computes: a re-send is a no-op ...
    store.log([event(i, float(i % 2)) for i in range(3)])
    assert store.flush() == (0, 0)
    # ... and a conflicting one is refused
    store.log([event(2, 0.0, chosen="b")])
    with pytest.raises(OptimizerError, match="field 'chosen' differs"):
        store.flush()
    (report,) = store.reports("stride-spring")
    assert (report.ad_group, report.clicks) == ("", 3)
    assert Store(url).count_events() == (3, 3)  # opening again changes nothing


def test_a_version_1_sqlite_file_upgrades_in_place(tmp_path, example_cfg):
    """The literal schema the old code made (a dump of one of its databases)."""
    url = f"sqlite:///{tmp_path}/v1.db"
    raw = create_engine(url).raw_connection()
    raw.executescript(V1_SCHEMA.read_text())
    raw.close()
    _upgraded(url, example_cfg)


def test_a_version_1_database_upgrades_in_place(db_url, example_cfg):
    _old_database(db_url)
    _upgraded(db_url, example_cfg)


def test_a_report_keeps_two_ad_groups_of_one_creative_and_date(db_url, example_cfg):
    store = Store(db_url)
    store.save_campaign(example_cfg)
    row = dict(campaign="stride-spring", segment="", creative_id="x", date="2026-03-01")
    row["impressions"] = 100
    groups = [{**row, "ad_group": g, "clicks": c} for g, c in [("t1", 3), ("t2", 5)]]
    assert store.insert_events([], [], groups) == (0, 0, 2)
    assert sorted((r.ad_group, r.clicks) for r in store.reports("stride-spring")) == [
        ("t1", 3),
        ("t2", 5),
    ]


def test_unknown_and_newer_schemas_are_explained(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    _old_database(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '0'"))
    with pytest.raises(OptimizerError, match="schema version 0, which this version.*CHANGELOG"):
        Store(url)
    url = f"sqlite:///{tmp_path}/new.db"
    Store(url)
    with create_engine(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(OptimizerError, match="revision 9999, newer than this version"):
        Store(url)


def _open_and_log(url: str, cfg, start, barrier) -> None:
    barrier.wait()
    store = Store(url)
    store.save_campaign(cfg)
    store.log([event(i, float(i % 2)) for i in range(start, start + 300)])
    store.flush()


def test_two_processes_initialise_a_new_database_at_once(tmp_path, example_cfg, db_url):
    """Both open the same new database at the same moment, then log overlapping events."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(3):
        url = db_url if attempt == 0 else f"{db_url[:-3]}-{attempt}.db"
        if attempt and not db_url.startswith("sqlite"):
            break  # one fresh schema per test on PostgreSQL
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_open_and_log, args=(url, example_cfg, start, barrier))
            for start in (0, 150)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0], f"attempt {attempt}"
        assert Store(url).count_events() == (450, 450)
