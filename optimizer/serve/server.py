"""Run the service: uvicorn workers on one port, plus the learner process.

The store is prepared once here (tables, campaign, seed creatives) before any worker
starts, so workers never race to create tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from optimizer.serve.settings import ENV, ServeSettings


def run_server(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "warning",
) -> None:
    """Serve until interrupted. Several workers need PostgreSQL (SQLite serialises writers
    across processes); the learner runs when ``settings.learn_every_s`` > 0."""
    if workers > 1 and settings.db.startswith("sqlite"):
        from optimizer.errors import OptimizerError

        raise OptimizerError(
            "--workers above 1 needs PostgreSQL (--db postgresql+psycopg://USER@HOST/DB); "
            "SQLite serves one process"
        )
    os.environ[ENV] = settings.to_env()
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # before prometheus-client is imported
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="co-metrics-")
    import uvicorn

    from optimizer.serve.service import prepare_store

    _, store = prepare_store(settings)
    store.engine.dispose()
    learner = None
    if settings.learn_every_s > 0:
        learner = subprocess.Popen([sys.executable, "-m", "optimizer.serve.learner"])
    try:
        uvicorn.run(
            "optimizer.serve.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            proxy_headers=False,  # nothing reads the client's address: no X-Forwarded-* work
            log_level=log_level,
            timeout_graceful_shutdown=10,
        )
    finally:
        if learner is not None:
            learner.terminate()
            learner.wait(5)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
