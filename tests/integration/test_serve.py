"""`digest serve` as a real process: health, planning and sending; two on one PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from digest.store.db import open_engine
from digest.store.tables import deliveries

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def due_now(tmp_path, count: int) -> str:
    """An import file of `count` subscribers confirmed yesterday whose hour is this hour (UTC)."""
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    hour = datetime.now(timezone.utc).hour
    people = [{"email": f"p{i}@example.org", "status": "active", "timezone": "UTC", "send_hour": hour,
               "send_empty": True, "created_at": yesterday, "confirmed_at": yesterday} for i in range(count)]
    path = tmp_path / "people.json"
    path.write_text(json.dumps(people))
    return str(path)


def start_serve(env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"serve did not start: {process.stderr.read().decode()[-2000:]}")


def digests(database_url: str) -> tuple[int, int, int]:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(deliveries.c.subscriber_id)))).scalar_one()
        sent = conn.execute(select(func.count()).select_from(deliveries).where(deliveries.c.status == "sent")).scalar_one()
    engine.dispose()
    return total, distinct, sent


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.3)


def test_serve_plans_and_sends_due_digests_and_stops_on_sigterm(database_url, cli, smtp_sink, tmp_path):
    if datetime.now(timezone.utc).minute >= 58:
        pytest.skip("too close to the hour: the subscribers' slot would move under the test")
    assert cli("subscribers", "import", due_now(tmp_path, 5), "--apply").exit_code == 0
    env = dict(os.environ, DIGEST_DATABASE_URL=database_url, DIGEST_SECRET_KEY="serve-test-secret-0123456789abcdefghij",
               DIGEST_SMTP_HOST="127.0.0.1", DIGEST_SMTP_PORT=str(smtp_sink.port))
    process = start_serve(env, free_port())
    wait_for(lambda: digests(database_url)[2] == 5, 30)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert digests(database_url) == (5, 5, 5)
    assert len(smtp_sink.handler.messages) == 5


def test_two_serve_instances_on_one_postgresql_plan_each_digest_once(database_url, cli, smtp_sink, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("two hosts share PostgreSQL; SQLite is single-host")
    if datetime.now(timezone.utc).minute >= 58:
        pytest.skip("too close to the hour: the subscribers' slot would move under the test")
    assert cli("subscribers", "import", due_now(tmp_path, 300), "--apply").exit_code == 0
    env = dict(os.environ, DIGEST_DATABASE_URL=database_url, DIGEST_SECRET_KEY="serve-test-secret-0123456789abcdefghij",
               DIGEST_SMTP_HOST="127.0.0.1", DIGEST_SMTP_PORT=str(smtp_sink.port), DIGEST_SMTP_RATE="10000")
    servers = [start_serve(env, free_port()) for _ in range(2)]
    wait_for(lambda: digests(database_url)[2] == 300, 60)
    for server in servers:
        server.send_signal(signal.SIGTERM)
    assert [server.wait(30) for server in servers] == [0, 0]
    assert digests(database_url) == (300, 300, 300)
    ids = [m.message_id for m in smtp_sink.handler.messages]
    assert len(ids) == len(set(ids)) == 300
