"""Benchmark the feeds over real HTTP: uvicorn in a subprocess, a keep-alive load loop here.

    python tests/benchmarks/bench_web.py [--seconds 5] [--connections 16] [--no-log] [--state-ttl 1.0]

The server is the real app (`create_app`) under one uvicorn worker (`access_log=False`;
the app's own access log is on, written to /dev/null, unless --no-log) over a SQLite
database holding the shipped sample snapshots (159 papers, so the papers feed is a full
50-entry feed of ~75 KB). The load loop is raw asyncio sockets (HTTP/1.1 keep-alive,
`--connections` concurrent, one request in flight each) rather than httpx, whose client
overhead would be measured instead of the server's. Client and server each get a core
on a 2-core machine; figures are for that and vary +-10% between runs.

Scenarios: the papers feed, a subscriber's ranked feed and a search feed, each as a
full 200 from the feed cache and as a 304 (If-None-Match); plus the cold build of each
(first request after start: read, rank, serialise). `--state-ttl 0` measures the app with
its plan memo off: every request then looks the feed's state up in the database from a
worker thread before answering from the feed cache. The last line printed is one JSON
object with every figure. Target: >= 1,000 requests/s for a cached 50-entry feed.

The same with wrk, against a server you started (`digest serve` or uvicorn):

    wrk -t2 -c32 -d10s http://127.0.0.1:8000/feeds/papers.atom
    wrk -t2 -c32 -d10s -H 'If-None-Match: "<etag from a first request>"' http://127.0.0.1:8000/feeds/papers.atom
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
TARGET_PER_SECOND = 1000
QUERY = '"token pooling" OR normalization'


# ---- the server (this file run with --serve) ------------------------------------------------


def serve(port: int, log: bool, state_ttl: float) -> None:
    import logging

    import uvicorn

    from digest.config import load_settings
    from digest.web import create_app

    if log:
        handler = logging.FileHandler(os.devnull)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logging.getLogger("digest.web").addHandler(handler)
        logging.getLogger("digest.web").setLevel(logging.INFO)
    app = create_app(load_settings(), feed_state_ttl=state_ttl)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# ---- setup --------------------------------------------------------------------------------


def prepare(folder: Path) -> tuple[dict[str, str], str]:
    """A database with the samples and one subscriber; returns (environment, feed token)."""
    from digest import jobs
    from digest.store.db import open_engine
    from digest.subscribers import SubscriberSpec

    url = f"sqlite:///{folder / 'bench.db'}"
    engine = open_engine(url)
    for path in sorted((ROOT / "digest" / "samples" / "snapshots").iterdir()):
        jobs.ingest_bytes(engine, path.read_bytes(), input=path.name)
    row = jobs.add_subscriber(engine, SubscriberSpec(email="ada@example.org", status="active", interests=QUERY))
    engine.dispose()
    env = {"DIGEST_DATABASE_URL": url, "DIGEST_SECRET_KEY": "bench-secret-0123456789abcdefghijklmn", "DIGEST_BASE_URL": "https://digest.example.org"}
    return env, row.feed_token


def start_server(env: dict[str, str], log: bool, state_ttl: float) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, __file__, "--serve", "--port", str(port), "--state-ttl", str(state_ttl)]
    command += [] if log else ["--no-log"]
    process = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


# ---- the load loop --------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return status, headers, length


async def _connection(port: int, request: bytes, deadline: float, latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            status, _, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, path: str, headers: dict[str, str], seconds: float, connections: int) -> dict:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, started + seconds, latencies, statuses) for _ in range(connections)))
    took = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / took),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def fetch(port: int, path: str) -> tuple[float, bytes, str]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as answer:
        body = answer.read()
        return time.perf_counter() - started, body, answer.headers["ETag"]


# ---- main -----------------------------------------------------------------------------------


def run(seconds: float, connections: int, log: bool, state_ttl: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env, token = prepare(Path(folder))
        process, port = start_server(env, log, state_ttl)
        try:
            feeds = {"papers": "/feeds/papers.atom", "subscriber": f"/feeds/s/{token}.atom",
                     "search": "/feeds/search.atom?q=title%3Adiffusion&days=7"}
            figures: dict = {"connections": connections, "seconds": seconds, "access_log": log,
                             "feed_state_ttl": state_ttl, "feeds": {}}
            for name, path in feeds.items():
                cold, body, etag = fetch(port, path)
                warm, _, _ = fetch(port, path)
                full = asyncio.run(load(port, path, {}, seconds, connections))
                not_modified = asyncio.run(load(port, path, {"If-None-Match": etag}, seconds, connections))
                figures["feeds"][name] = {"bytes": len(body), "cold_build_ms": round(cold * 1000, 1),
                                          "single_cached_ms": round(warm * 1000, 1), "200": full, "304": not_modified}
        finally:
            process.terminate()
            process.wait(10)
    figures["meets_target"] = all(f["200"]["per_second"] >= TARGET_PER_SECOND and f["304"]["per_second"] >= TARGET_PER_SECOND
                                  for f in figures["feeds"].values())
    return figures


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    ap.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    ap.add_argument("--no-log", dest="log", action="store_false", help="run the server without its access log")
    ap.add_argument("--state-ttl", type=float, default=1.0,
                    help="create_app(feed_state_ttl=...): 0 looks the feed state up in the database on every request")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=8000, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.port, args.log, args.state_ttl)
        return None
    figures = run(args.seconds, args.connections, args.log, args.state_ttl)
    for name, feed in figures["feeds"].items():
        print(f"{name}: {feed['bytes']:,} bytes, cold build {feed['cold_build_ms']} ms, "
              f"200 {feed['200']['per_second']:,} req/s (p50 {feed['200']['p50_ms']} ms, p99 {feed['200']['p99_ms']} ms), "
              f"304 {feed['304']['per_second']:,} req/s (p50 {feed['304']['p50_ms']} ms)")
    print(f"target >= {TARGET_PER_SECOND:,} req/s for every cached feed, 200 and 304: {figures['meets_target']}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
