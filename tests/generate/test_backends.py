"""The OpenAI-compatible client against a local stand-in server (unit test of the client)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from optimizer.errors import OptimizerError
from optimizer.generate.backends import ChatRequest, OpenAIBackend, Sampling, cut_at_stop


class Handler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        answer = {"choices": [{"message": {"content": "Headline: Fast feet\nBody: Go.\n\nmore"}}]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_openai_backend_sends_chat_requests(server):
    Handler.seen.clear()
    backend = OpenAIBackend(server, "my-model", api_key="k")
    out = backend.complete([ChatRequest("sys", "user", "Headline:")] * 2, Sampling(), seed=5)
    assert out == [" Fast feet\nBody: Go.", " Fast feet\nBody: Go."]
    first = Handler.seen[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer k"
    assert first["body"]["model"] == "my-model" and first["body"]["seed"] == 5
    assert Handler.seen[1]["body"]["seed"] == 6
    assert backend.info.id == "my-model"


def test_openai_backend_unreachable_is_a_clear_error():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout=2)
    with pytest.raises(OptimizerError, match="did not answer"):
        backend.complete([ChatRequest("s", "u")], Sampling(), 0)


def test_cut_at_stop():
    assert cut_at_stop("a\nb\n\nc", ["\n\n"]) == "a\nb"
    assert cut_at_stop("abc", ["x"]) == "abc"
