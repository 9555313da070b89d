"""Two workers on one PostgreSQL database (a schema of its own per test): they serve and
log, the learner registers versions, both workers reload them, racing ranks of one event
id store it once, and `learn` reads every logged decision once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import Server, make_key, write_config


@pytest.fixture()
def server(pg_schema, tmp_path):
    config = write_config(tmp_path, window_hours=0.0005)
    key = make_key(config, pg_schema)
    srv = Server(config, pg_schema, tmp_path, args=("--workers", "2", "--learn-every", "1"))
    srv.start()
    yield srv, key
    srv.stop()


def _post(srv, key, path, body=None):
    # a new connection per request, so the kernel spreads them over both workers
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(srv.url + path, json=body, headers=headers, timeout=30)


def test_two_workers_share_one_log_and_one_policy(server, tmp_path):
    from optimizer.offline import learn_from_logs
    from optimizer.store import Store

    srv, key = server
    acked, pids = [], set()
    for i in range(80):
        r = _post(srv, key, "/rank", {"segment": "marathoners", "contextFeatures": [{"age": i}]})
        assert r.status_code == 200, r.text
        acked.append(r.json()["eventId"])
        if i % 2 == 0:
            assert _post(srv, key, f"/events/{acked[-1]}/reward", {"value": 1}).status_code == 200
    r = _post(
        srv, key, "/rank", {"segment": "beginners", "eventId": "pg-d", "deferActivation": True}
    )
    assert r.status_code == 200
    assert _post(srv, key, "/events/pg-d/activate").json()["status"] == "activated"
    acked.append("pg-d")
    deadline, versions = time.monotonic() + 30, set()
    while time.monotonic() < deadline:
        versions = {httpx.get(srv.url + "/healthz").json()["policyVersion"] for _ in range(12)}
        if len(versions) == 1 and versions.pop().startswith("vw-serve-"):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"workers did not converge on a learned version: {versions}")
    metrics = httpx.get(srv.url + "/metrics").text
    pids = {
        line.split('pid="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("serve_policy_version_info{") and 'pid="' in line
    }
    assert len(pids) >= 2  # both workers report (through the multiprocess folder)
    time.sleep(2)
    _post(srv, key, "/rank", {"segment": "beginners"})
    store = Store(srv.db)
    decisions, rewards = store.count_events("stride-spring")
    assert decisions == len(acked) + 1 and rewards == 40
    result = learn_from_logs(store, "stride-spring", tmp_path / "learn")
    assert result["decisions"] == decisions
    assert result["train_events"] + result["pending"] == decisions


def test_racing_ranks_of_one_event_id_store_it_once(server):
    srv, key = server
    body = {"segment": "beginners", "eventId": "race-1"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(srv, key, "/rank", body), range(16)))
    assert sorted(r.status_code for r in answers) == [200] + [409] * 15, [r.text for r in answers]
    reward = {"value": 1}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: _post(srv, key, "/events/race-1/reward", reward), range(16))
        )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 15, [r.text for r in answers]


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]


@pytest.mark.slow
def test_kill9_one_of_two_workers_under_load(pg_schema, tmp_path, capsys):
    """uvicorn replaces the killed worker; the client retries what got no answer."""
    import asyncio
    import os
    import signal
    import threading

    from optimizer.offline import learn_from_logs
    from optimizer.store import Store
    from tests.serve.test_faults import _count, _drive

    config = write_config(tmp_path, window_hours=0.02)
    key = make_key(config, pg_schema)
    srv = Server(config, pg_schema, tmp_path, args=("--workers", "2", "--learn-every", "1"))
    srv.start()
    try:
        ids = [f"f-{i}" for i in range(600)]
        state = {
            "ranked": {},
            "rewarded": set(),
            "unanswered": set(),
            "unrewarded": set(),
            "conflicts": 0,
            "errors": [],
            "left": [],
        }
        load = threading.Thread(
            target=lambda: asyncio.run(_drive(srv.url, key, ids, state, threading.Event()))
        )
        load.start()
        time.sleep(2.0)
        before = len(state["ranked"])
        victim = _workers(srv.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        load.join(120)
        deadline = time.monotonic() + 30
        while len(_workers(srv.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert victim not in _workers(srv.proc.pid) and len(_workers(srv.proc.pid)) == 2
        cut = len(state["unanswered"]) + len(state["unrewarded"])
        retry, state["unanswered"] = sorted(state["unanswered"]), set()
        asyncio.run(_drive(srv.url, key, retry, state, threading.Event()))
        headers = {"Authorization": f"Bearer {key}"}
        for event_id in sorted(state["unrewarded"] - state["rewarded"]):
            r = httpx.post(
                f"{srv.url}/events/{event_id}/reward",
                json={"value": 1},
                headers=headers,
                timeout=30,
            )
            assert r.status_code in (200, 409), r.text
            state["rewarded"].add(event_id)
    finally:
        srv.stop()
    assert not state["errors"], state["errors"][:3]
    chosen, rewards = _count(pg_schema)
    assert chosen == state["ranked"] and len(chosen) == len(ids)
    assert state["rewarded"] <= rewards
    result = learn_from_logs(Store(pg_schema), "stride-spring", tmp_path / "learn")
    assert result["decisions"] == len(chosen)
    assert result["train_events"] + result["pending"] == len(chosen)
    with capsys.disabled():
        print(
            f"\nPostgreSQL, 2 workers: kill -9 of worker {victim} after {before} acknowledged "
            f"ranks; {cut} requests cut off; {state['conflicts']} retried ranks had been "
            f"committed (409); {len(chosen)} decisions stored once each, {len(rewards)} "
            f"rewards; learn: {result['train_events']} train + {result['pending']} pending"
        )
