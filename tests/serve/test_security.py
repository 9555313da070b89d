"""Keys and bad input against a real server: each refusal has its status and a one-line
message naming what is wrong; no response carries a stack trace."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.serve.conftest import Server, make_key, write_config


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("security")
    config = write_config(folder)
    db = f"sqlite:///{folder / 'serve.db'}"
    key = make_key(config, db)
    other = make_key(config, db, campaign="other-campaign")
    srv = Server(config, db, folder, args=("--learn-every", "0")).start()
    yield srv, key, other
    srv.stop()


def _post(srv, path, key=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(srv.url + path, headers=headers, **kwargs)


def _refusal(r: httpx.Response, status: int, message: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] == message
    assert "\n" not in r.text and "Traceback" not in r.text


CASES = [
    # (path, key, body, status, message)
    (
        "/rank",
        None,
        {"segment": "beginners"},
        401,
        "missing API key; send it as Authorization: Bearer KEY",
    ),
    (
        "/rank",
        "co_deadbeef_not-a-real-secret",
        {"segment": "beginners"},
        401,
        "unknown or revoked API key",
    ),
    ("/rank", "garbage", {"segment": "beginners"}, 401, "unknown or revoked API key"),
    (
        "/rank",
        "KEY",
        {"actions": [{"id": f"a{i}"} for i in range(51)]},
        422,
        "actions: List should have at most 50 items after validation, not 51",
    ),
    (
        "/rank",
        "KEY",
        {"segment": "beginners", "contextFeatures": [{"x": "y" * 300}]},
        422,
        "contextFeatures[0]: 'x' is 300 characters, over the limit 256",
    ),
    (
        "/rank",
        "KEY",
        {"actions": [{"id": "a", "features": [{f"f{i}": 1 for i in range(65)}]}]},
        422,
        "actions[0].features[0]: Dictionary should have at most 64 items after validation, "
        "not more",
    ),
    (
        "/rank",
        "KEY",
        {"segment": "nope"},
        422,
        "segment: unknown segment 'nope'; valid: marathoners, trail_runners, beginners, "
        "bargain_hunters, eco_commuters",
    ),
    (
        "/rank",
        "KEY",
        {"segment": "beginners", "colour": "red"},
        422,
        "colour: unknown field; remove it or check its spelling",
    ),
    (
        "/rank",
        "KEY",
        {"eventId": "has space", "segment": "beginners"},
        422,
        "eventId: String should match pattern '^[A-Za-z0-9_.:\\-]+$'",
    ),
    ("/rank", "KEY", {}, 422, "actions: give actions or a segment"),
    (
        "/events/unknown-1/reward",
        "KEY",
        {"value": 1},
        404,
        "no event 'unknown-1' in campaign 'stride-spring'; use the eventId /rank returned",
    ),
    (
        "/events/unknown-1/activate",
        "KEY",
        None,
        404,
        "no event 'unknown-1' in campaign 'stride-spring'; use the eventId /rank returned",
    ),
    (
        "/events/e1/reward",
        "KEY",
        {"value": 2},
        422,
        "value: Input should be less than or equal to 1",
    ),
    (
        "/events/e1/reward",
        "KEY",
        {"value": 1, "kind": "purchase"},
        422,
        "kind: 'purchase' is not a reward kind of this campaign; use click",
    ),
]


@pytest.mark.parametrize(("path", "key", "body", "status", "message"), CASES)
def test_refusals(server, path, key, body, status, message):
    srv, good, _ = server
    r = _post(srv, path, good if key == "KEY" else key, json=body)
    _refusal(r, status, message)


def test_another_campaigns_key_is_forbidden(server):
    srv, _, other = server
    r = _post(srv, "/rank", other, json={"segment": "beginners"})
    _refusal(r, 403, "this key is for campaign 'other-campaign', not 'stride-spring'")


def test_malformed_json_is_400(server):
    srv, key, _ = server
    r = _post(srv, "/rank", key, content=b'{"segment": "beginners",', headers={})
    _refusal(r, 400, "malformed JSON: EOF while parsing a value at line 1 column 24")


def test_oversize_body_is_413_without_reading_it(server):
    srv, key, _ = server
    r = _post(srv, "/rank", key, content=b"x" * 70_000)
    _refusal(r, 413, "request body: 70000 bytes, over the 65536-byte limit")


def test_oversize_chunked_body_is_413(server):
    srv, key, _ = server

    def chunks():
        for _ in range(20):
            yield b" " * 4096

    r = _post(srv, "/rank", key, content=chunks())
    _refusal(r, 413, "request body: over the 65536-byte limit")


def test_unknown_path_and_method(server):
    srv, key, _ = server
    _refusal(httpx.get(srv.url + "/nope"), 404, "no such endpoint")
    _refusal(httpx.get(srv.url + "/rank"), 405, "method not allowed here")


def test_revoked_key_is_refused_after_a_reload(server):
    from optimizer.serve.keys import create_key, revoke_key
    from optimizer.store import Store

    srv, _, _ = server
    store = Store(srv.db)
    key, info = create_key(store, "stride-spring", "to revoke")
    time.sleep(1.5)  # workers reload keys every second
    assert _post(srv, "/rank", key, json={"segment": "beginners"}).status_code == 200
    revoke_key(store, info.id)
    time.sleep(1.5)
    _refusal(
        _post(srv, "/rank", key, json={"segment": "beginners"}), 401, "unknown or revoked API key"
    )


def test_keys_are_stored_as_digests(server):
    from sqlalchemy import text

    from optimizer.store import Store

    srv, key, _ = server
    with Store(srv.db).engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text("SELECT id, digest FROM api_key"))]
    secret = key.split("_", 2)[2]  # co_<id>_<secret>; the secret may itself hold "_"
    assert stored and len(secret) >= 40
    assert all(key not in " ".join(r) and secret not in " ".join(r) for r in stored)
