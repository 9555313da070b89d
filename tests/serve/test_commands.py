"""The service's commands through click: keys create/list/revoke and export."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

from cli import main
from tests.serve.conftest import write_config


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_keys_create_list_revoke(tmp_path):
    config = write_config(tmp_path)
    db = f"sqlite:///{tmp_path / 'k.db'}"
    created = _run("keys", "create", "--config", str(config), "--db", db, "--name", "ads", "--json")
    assert created.exit_code == 0, created.output
    info = json.loads(created.output)
    assert info["key"].startswith(f"co_{info['id']}_") and info["campaign"] == "stride-spring"
    listed = _run("keys", "list", "--db", db)
    assert f"{info['id']}  stride-spring  ads  created" in listed.output
    assert info["key"] not in listed.output
    revoked = _run("keys", "revoke", info["id"], "--db", db)
    assert revoked.output.startswith(f"revoked {info['id']} (stride-spring) at ")
    missing = _run("keys", "revoke", "nope", "--db", db)
    assert missing.exit_code == 1
    assert missing.output == "Error: no API key 'nope'; `keys list` shows the ids\n"


def test_export_weights_per_segment(tmp_path):
    config = write_config(tmp_path)
    db = f"sqlite:///{tmp_path / 'e.db'}"
    as_json = _run("export", "--config", str(config), "--db", db, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["campaign"] == "stride-spring" and data["policy_version"] == "vw-initial"
    assert set(data["segments"]) == {
        "marathoners",
        "trail_runners",
        "beginners",
        "bargain_hunters",
        "eco_commuters",
    }
    for items in data["segments"].values():
        assert abs(sum(i["weight"] for i in items) - 1.0) < 1e-4
        assert all(i["headline"] and i["weight"] > 0 for i in items)
    as_csv = _run("export", "--config", str(config), "--db", db, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert list(rows[0]) == [
        "campaign",
        "policy_version",
        "generated_at",
        "segment",
        "creative_id",
        "headline",
        "body",
        "cta",
        "weight",
    ]
    assert len(rows) == sum(len(v) for v in data["segments"].values())


def test_migration_0003_makes_the_service_tables_as_modelled(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import optimizer.serve.models  # noqa: F401  (registers the tables)
    from optimizer.serve.models import SERVE_TABLES
    from optimizer.store import Store

    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, kind, *_: (
                    (name if kind == "table" else obj.table.name) in SERVE_TABLES
                ),
            },
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_serve_refuses_several_workers_on_sqlite(tmp_path):
    config = write_config(tmp_path)
    result = _run(
        "serve", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'w.db'}", "--workers", "2"
    )
    assert result.exit_code == 1
    assert result.output.endswith(
        "Error: --workers above 1 needs PostgreSQL (--db postgresql+psycopg://USER@HOST/DB); "
        "SQLite serves one process\n"
    )
