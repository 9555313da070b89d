"""Latency of the decision service under load, from a second process on loopback.

Starts ``serve`` (the CLI, uvicorn, one worker, its learner) on a free port with a fresh
store, then runs an open-loop load generator in another process (asyncio on keep-alive
connections): requests are sent on a fixed schedule (nine ranks to one reward), and each
latency is measured from the moment it was due, so a stalled server is charged for the
requests it delayed (no coordinated omission). Prints p50/p99/max, errors and the
server's CPU per request at ``--rate`` for ``--duration`` seconds, then the highest rate
whose p99 stays within ``--p99-limit`` ms.

    .venv/bin/python benchmarks/serve.py                       # 1,000 req/s for 30 s, then search
    .venv/bin/python benchmarks/serve.py --db postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol: far less
    client CPU per request than a general client, so the load generator keeps its rate."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {key}\r\n".encode()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._post(path, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            return await self._post(path, body)  # the server closed an idle connection

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + self.auth + b"\r\n" + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            headers = await self.reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.writer = None
            raise
        return int(status_line.split()[1]), payload


async def _drive(url: str, key: str, rate: float, duration: float) -> dict:
    host, port = url.split("//")[1].split(":")
    segments = ["marathoners", "trail_runners", "beginners", "bargain_hunters", "eco_commuters"]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ranked: list[str] = []
    idle = [Connection(host, int(port), key) for _ in range(64)]
    bodies = [
        json.dumps({"segment": segments[i % 5], "contextFeatures": [{"age": 20 + i % 50}]}).encode()
        for i in range(250)
    ]

    async def one(i: int, due: float) -> None:
        conn = idle.pop() if idle else Connection(host, int(port), key)
        try:
            if i % 10 == 9 and ranked:
                status, _ = await conn.post(f"/events/{ranked.pop()}/reward", b'{"value": 1.0}')
            else:
                status, payload = await conn.post("/rank", bodies[i % len(bodies)])
                if status == 200:
                    ranked.append(json.loads(payload)["eventId"])
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
        except Exception as exc:  # a refused or dropped connection is an error
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        latencies.append(time.perf_counter() - due)
        idle.append(conn)

    tasks = []
    start = time.perf_counter() + 0.05
    n = int(rate * duration)
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > 2.0 or len(tasks) - len(latencies) > 5000:  # cannot keep up
            errors["not sent: over 2 s behind"] = n - i
            break
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    sent = len(latencies)

    def pct(q: float) -> float:
        return round(latencies[min(int(q * sent), sent - 1)] * 1e3, 2)

    return {
        "rate": rate,
        "duration_s": duration,
        "requests": sent,
        "achieved_rate": round(sent / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1e3, 2),
        "errors": errors,
    }


def drive(url: str, key: str, rate: float, duration: float) -> dict:
    """Run the load generator in its own process and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--drive", url, key, str(rate), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(url: str, key: str, rate: float, duration: float, pid: int) -> dict:
    """``drive`` plus the server's CPU milliseconds per request sent."""
    before = cpu_seconds(pid)
    step = drive(url, key, rate, duration)
    step["server_cpu_ms_per_request"] = round(
        (cpu_seconds(pid) - before) * 1e3 / max(step["requests"], 1), 3
    )
    return step


def start_server(config: str, db: str, folder: Path, port: int) -> tuple[subprocess.Popen, str]:
    import httpx

    from optimizer.config import load_config
    from optimizer.serve.keys import create_key
    from optimizer.store import Store

    cfg = load_config(config)
    store = Store(db)
    store.save_campaign(cfg)
    key, _ = create_key(store, cfg.name, "benchmark")
    store.engine.dispose()
    log = (folder / "server.log").open("w")
    cmd = [
        sys.executable,
        "-c",
        "from cli import main; main()",
        "serve",
        "--config",
        config,
        "--db",
        db,
        "--port",
        str(port),
        "--state-dir",
        str(folder),
        "--learn-every",
        "10",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, key
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start; see {folder / 'server.log'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "example.yaml"))
    parser.add_argument("--db", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--p99-limit", type=float, default=20.0)
    parser.add_argument("--search-duration", type=float, default=10.0)
    parser.add_argument("--search", default="100,250,500,750,1000,1500,2000,3000,4000")
    parser.add_argument("--drive", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        url, key, rate, duration = args.drive
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(json.dumps(asyncio.run(_drive(url, key, float(rate), float(duration)))))
        return
    import socket

    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    db = args.db or f"sqlite:///{folder / 'bench.db'}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, key = start_server(args.config, db, folder, port)
    url = f"http://127.0.0.1:{port}"
    try:
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
        head = measured(url, key, args.rate, args.duration, proc.pid)
        print(json.dumps(head))
        ok = head["p99_ms"] <= 5.0 and not head["errors"]
        print(
            f"{args.rate:g} req/s for {args.duration:g} s: p99 {head['p99_ms']} ms, "
            f"errors {sum(head['errors'].values())} -> {'PASS' if ok else 'MISS'} "
            "(target p99 <= 5 ms, 0 errors)"
        )
        best = None
        for rate in [float(r) for r in args.search.split(",")]:
            step = measured(url, key, rate, args.search_duration, proc.pid)
            print(json.dumps(step))
            if (
                step["p99_ms"] > args.p99_limit
                or step["errors"]
                or (step["achieved_rate"] < 0.95 * rate)
            ):
                break
            best = rate
        print(
            f"highest rate held with p99 <= {args.p99_limit:g} ms: "
            f"{best if best is not None else 'none of those tried'} req/s "
            f"(load average after: {os.getloadavg()[0]:.1f})"
        )
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)


if __name__ == "__main__":
    main()
