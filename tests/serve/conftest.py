"""A real server process per test module: the CLI's ``serve`` under uvicorn on a free
loopback port, driven by httpx. PostgreSQL tests get a schema of their own in the
database of ``TEST_DATABASE_URL`` (default: the local server) and skip when it is
unreachable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "example.yaml"
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, **attribution) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["attribution"] = {**data.get("attribution", {}), **attribution}
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Server:
    config: Path
    db: str
    state_dir: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [
            sys.executable,
            "-c",
            "from cli import main; main()",
            "serve",
            "--config",
            str(self.config),
            "--db",
            self.db,
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            *self.args,
        ]
        self.log = self.state_dir / f"server-{self.port}-{time.monotonic_ns()}.log"
        out = self.log.open("w")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        """kill -9 every process of the server (the worker, and the learner)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def make_key(config: Path, db: str, campaign: str | None = None) -> str:
    from optimizer.config import load_config
    from optimizer.serve.keys import create_key
    from optimizer.store import Store

    cfg = load_config(config)
    if campaign is not None:
        cfg = cfg.model_copy(update={"name": campaign})
    store = Store(db)
    store.save_campaign(cfg)
    key, _ = create_key(store, cfg.name)
    store.engine.dispose()
    return key


def pg_url() -> str:
    """The PostgreSQL URL to test against, or skip with the reason."""
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_PG
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # no driver, no server
        where = "TEST_DATABASE_URL" if "TEST_DATABASE_URL" in os.environ else "default URL"
        pytest.skip(f"PostgreSQL unreachable at {url} ({where}): {type(exc).__name__}")
    return url


@pytest.fixture()
def pg_schema() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    import sqlalchemy

    url = pg_url()
    schema = f"serve_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture()
def auth():
    return lambda key: {"Authorization": f"Bearer {key}"}
