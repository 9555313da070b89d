"""rank -> reward -> activate over real HTTP against a real server process (SQLite); then
`learn` trains on what `serve` logged and `evaluate` estimates the served policy."""

from __future__ import annotations

import time

import httpx
import pytest

from optimizer.serve.schemas import RankResponse
from tests.serve.conftest import Server, make_key, write_config


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    config = write_config(folder, window_hours=0.001)  # a 3.6-second reward window
    db = f"sqlite:///{folder / 'serve.db'}"
    key = make_key(config, db)
    srv = Server(config, db, folder, args=("--learn-every", "1")).start()
    yield srv, key
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    srv, key = server
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


def test_rank_by_segment_returns_a_creative_and_its_probability(client):
    r = client.post("/rank", json={"segment": "marathoners", "contextFeatures": [{"age": 31}]})
    assert r.status_code == 200, r.text
    body = r.json()
    ranking = {a["id"]: a["probability"] for a in body["ranking"]}
    assert body["ranking"][0]["id"] == body["rewardActionId"] == body["creative"]["id"]
    assert body["probability"] == pytest.approx(ranking[body["rewardActionId"]])
    assert sum(ranking.values()) == pytest.approx(1.0)
    assert body["creative"]["headline"] and body["mode"] == "online"
    assert len(body["eventId"]) == 32  # made by the service
    assert RankResponse.model_validate(body).model_dump() == body  # the documented schema


def test_personalizer_request_ports_by_changing_the_url(server):
    srv, key = server
    request = {
        "contextFeatures": [{"age": 40}, {"device": {"os": "ios"}}],
        "actions": [{"id": "a1", "features": [{"len": 3}]}, {"id": "a2"}, {"id": "a3"}],
        "excludedActions": ["a3"],
        "eventId": "pz-1",
        "deferActivation": False,
    }
    r = httpx.post(
        f"{srv.url}/personalizer/v1.0/rank",
        json=request,
        headers={"Ocp-Apim-Subscription-Key": key},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["eventId"] == "pz-1" and body["rewardActionId"] in ("a1", "a2")
    assert body["ranking"][-1] == {"id": "a3", "probability": 0.0}
    assert body["creative"] is None  # a1/a2 are not stored creatives
    assert RankResponse.model_validate(body).model_dump() == body
    r = httpx.post(
        f"{srv.url}/personalizer/v1.0/events/pz-1/reward",
        json={"value": 1.0},
        headers={"Ocp-Apim-Subscription-Key": key},
    )
    assert r.status_code == 200 and r.json()["status"] == "recorded"


def test_reward_once_then_conflict(client):
    event = client.post("/rank", json={"segment": "beginners"}).json()["eventId"]
    first = client.post(f"/events/{event}/reward", json={"value": 1})
    again = client.post(f"/events/{event}/reward", json={"value": 1})
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        f"event '{event}' already has a click reward; a reward counts once"
    )


def test_deferred_event_needs_activation_before_its_reward(client):
    r = client.post(
        "/rank", json={"segment": "beginners", "eventId": "defer-1", "deferActivation": True}
    )
    assert r.status_code == 200 and r.json()["deferred"] is True
    early = client.post("/events/defer-1/reward", json={"value": 1})
    assert early.status_code == 409 and early.json()["error"]["code"] == "NotActivated"
    activated = client.post("/events/defer-1/activate")
    assert activated.json()["status"] == "activated"
    assert client.post("/events/defer-1/activate").json()["status"] == "active"
    assert client.post("/events/defer-1/reward", json={"value": 1}).status_code == 200


def test_same_event_id_ranked_twice_is_refused(client):
    first = client.post("/rank", json={"segment": "beginners", "eventId": "twice"})
    again = client.post("/rank", json={"segment": "beginners", "eventId": "twice"})
    assert first.status_code == 200 and again.status_code == 409
    chosen = first.json()["rewardActionId"]
    assert f"(action {chosen})" in again.json()["error"]["message"]


def test_late_reward_is_stored_as_late_and_answered_410(client):
    event = client.post("/rank", json={"segment": "eco_commuters"}).json()["eventId"]
    time.sleep(3.8)  # past the 3.6-second window
    r = client.post(f"/events/{event}/reward", json={"value": 1})
    assert r.status_code == 410
    assert "stored as late and not learned from" in r.json()["error"]["message"]


def test_learner_registers_versions_and_workers_reload_them(client):
    for i in range(30):
        event = client.post(
            "/rank", json={"segment": "marathoners", "contextFeatures": [{"age": 20 + i}]}
        ).json()
        if i % 3 == 0:
            client.post(f"/events/{event['eventId']}/reward", json={"value": 1})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        version = client.get("/healthz").json()["policyVersion"]
        if version.startswith("vw-serve-"):
            break
        time.sleep(0.5)
    assert version.startswith("vw-serve-")
    metrics = client.get("/metrics").text
    assert 'serve_rewards_total{outcome="joined"}' in metrics
    assert f'serve_policy_version_info{{version="{version}"}} 1.0' in metrics or version in metrics
    assert "serve_request_seconds_bucket" in metrics


def test_learn_and_evaluate_use_what_serve_logged(server, client, tmp_path):
    from optimizer.offline import evaluate_logged, learn_from_logs
    from optimizer.serve.policy import newest_version
    from optimizer.store import Store

    srv, _ = server
    served = []
    for i in range(60):
        body = client.post(
            "/rank", json={"segment": "trail_runners", "contextFeatures": [{"age": 25 + i % 30}]}
        ).json()
        served.append(body["eventId"])
        if i % 4 == 0:
            client.post(f"/events/{body['eventId']}/reward", json={"value": 1})
    time.sleep(4)  # every window closes; one more decision moves the data's clock past them
    client.post("/rank", json={"segment": "beginners"})
    store = Store(srv.db)
    decisions, _ = store.count_events("stride-spring")
    result = learn_from_logs(store, "stride-spring", tmp_path)
    assert result["decisions"] == decisions  # each logged decision seen once
    assert result["train_events"] == decisions - result["pending"]
    assert result["pending"] <= 1
    row = newest_version(store, "stride-spring")
    estimate = evaluate_logged(
        store, "stride-spring", [f"policy:{row.version}", "uniform"], ["ips", "dr"], replicates=50
    )
    assert estimate.log["decisions"] == decisions
    for target in estimate.comparison.targets:
        dr = target.estimates["dr"]
        assert dr.low <= dr.value <= dr.high and dr.n == estimate.comparison.events


def test_openapi_document_lists_the_endpoints(client):
    doc = client.get("/openapi.json").json()
    assert {"/rank", "/events/{eventId}/reward", "/events/{eventId}/activate"} <= set(doc["paths"])
    assert "RankRequest" in doc["components"]["schemas"]
