"""Scale-out: several `digest worker` processes share one PostgreSQL outbox.

PostgreSQL only (SQLite is single-host): runs when DIGEST_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import collections
import signal
import time

import pytest

from tests.integration.test_crash import expected_ids, make_outbox, start_worker, unsent, wait_until_sent, worker_env
from tests.smtp_server import spawn_sink

MESSAGES = 30_000
POOL = 4
pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers on several hosts share PostgreSQL; SQLite is single-host")
    return database_url


def run_workers(pg_url, samples, tmp_path, *, kill_one: bool) -> tuple[collections.Counter, set[str], int]:
    make_outbox(pg_url, samples, MESSAGES)
    with spawn_sink(engine="fast", dump=tmp_path / "sink.json") as sink:
        env = worker_env(pg_url, sink.port)
        if not kill_one:
            # No claim has to expire here. A 2 s lease can run out while claimed rows wait in a
            # worker's queue on a loaded machine, and then another worker sends them again.
            env["DIGEST_LEASE_SECONDS"] = "120"
        workers = [start_worker(env) for _ in range(3)]
        if kill_one:
            time.sleep(3.0)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
        wait_until_sent(pg_url, time.monotonic() + 600)
        for worker in workers[kill_one:]:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, worker.stderr.read().decode()
        time.sleep(1.0)
        received = sink.stop()
    return collections.Counter(received["message_ids"]), expected_ids(pg_url), unsent(pg_url)


def test_three_workers_deliver_every_message_exactly_once(pg_url, samples, tmp_path):
    counts, wanted, left = run_workers(pg_url, samples, tmp_path, kill_one=False)
    print(f"\n3 workers, {MESSAGES} messages: {len(counts)} distinct received, {sum(counts.values())} in all")
    assert left == 0
    assert set(counts) == wanted
    assert all(n == 1 for n in counts.values())


def test_one_worker_killed_loses_nothing_and_duplicates_stay_under_its_pool(pg_url, samples, tmp_path):
    counts, wanted, left = run_workers(pg_url, samples, tmp_path, kill_one=True)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\n3 workers, one SIGKILLed: {len(wanted - set(counts))} lost, {duplicates} duplicates (bound {POOL})")
    assert left == 0
    assert set(counts) == wanted
    assert duplicates <= POOL


def test_sigterm_finishes_in_flight_sends_and_releases_leases(database_url, samples, scripted_smtp):
    from sqlalchemy import func, select

    from digest.store.db import open_engine
    from digest.store.tables import deliveries
    from tests.smtp_server import slow

    make_outbox(database_url, samples, 200)
    server = scripted_smtp(decide=lambda address, stage, attempt: slow(0.3) if stage == "data" else None)
    worker = start_worker(worker_env(database_url, server.port))
    # Stop it once it is sending (its signal handlers are in place by then), however slow
    # the machine is to start a process.
    deadline = time.monotonic() + 60
    while unsent(database_url) == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    engine = open_engine(database_url)
    with engine.connect() as conn:
        by_status = dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all())
    engine.dispose()
    assert by_status.get("sending", 0) == 0
    assert 0 < by_status.get("sent", 0) < 200
    assert by_status["sent"] == len(server.handler.messages)
