"""Kill senders with SIGKILL mid-run: nothing is lost, duplicates stay bounded.

A real `digest worker` process sends a 40,000-message outbox to an SMTP sink running in
another process, is killed at random moments at least ten times and restarted; at the end
every planned message has arrived, and each kill resent at most `pool size` messages.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from digest.jobs import ingest_bytes
from digest.jobs.planning import plan_digests
from digest.mail.message_ids import make_message_id
from digest.store.bulk import insert_rows
from digest.store.db import open_engine, write_transaction
from digest.store.subscribers import new_row
from digest.store.tables import deliveries, subscribers
from digest.subscribers import SubscriberSpec
from tests.smtp_server import spawn_sink

# The killed workers send at most KILLED_RATE messages/s, so ten kill cycles (0.8-2.5 s each) leave
# work for the survivor however fast this machine is (at most 25,000 of 40,000; unthrottled, a fast day
# drained it all before the survivor started): the survivor must be seen sending, so its SIGTERM
# handler is known to be installed. The survivor sends unthrottled.
MESSAGES = 40_000
POOL = 4
KILLS = 10
KILLED_RATE = 1_000
pytestmark = pytest.mark.slow


def make_outbox(database_url: str, samples, count: int) -> None:
    """`count` active subscribers, each with one digest queued (planned for real)."""
    engine = open_engine(database_url)
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), input="plain")
    from digest.jobs.common import utcnow

    now = utcnow()
    rows = [new_row(SubscriberSpec(email=f"reader{i}@example.org", status="active", interests="pruning OR normalization",
                                   max_papers=3), now=now, cursor=0) for i in range(count)]
    with write_transaction(engine) as conn:
        insert_rows(conn, subscribers, rows)
    assert plan_digests(engine, now, force=True).planned == count
    engine.dispose()


def worker_env(database_url: str, port: int, *, rate: int = 100_000) -> dict[str, str]:
    return dict(
        os.environ,
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SMTP_HOST="127.0.0.1",
        DIGEST_SMTP_PORT=str(port),
        DIGEST_SMTP_POOL_SIZE=str(POOL),
        DIGEST_SMTP_RATE=str(rate),
        DIGEST_LEASE_SECONDS="2",
        DIGEST_SECRET_KEY="crash-test-secret-0123456789abcdefghij",
        DIGEST_FROM="Digest <digest@example.org>",
    )


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digest", "worker", "--poll", "0.2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def unsent(database_url: str) -> int:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(deliveries).where(deliveries.c.status != "sent")).scalar_one()
    engine.dispose()
    return count


def expected_ids(database_url: str) -> set[str]:
    engine = open_engine(database_url)
    from digest.jobs.rendering import MailSetup
    from digest.config import load_settings

    setup = MailSetup.from_settings(load_settings(secret_key="crash-test-secret-0123456789abcdefghij", **{"DIGEST_FROM": "Digest <digest@example.org>"}))
    with engine.connect() as conn:
        ids = {make_message_id(row.id, setup.domain, salt=setup.id_salt, created=row.created_at)
               for row in conn.execute(select(deliveries.c.id, deliveries.c.created_at))}
    engine.dispose()
    return ids


def wait_until_sent(database_url: str, deadline: float) -> None:
    while unsent(database_url) and time.monotonic() < deadline:
        time.sleep(0.5)


def test_sigkilled_sender_loses_nothing_and_duplicates_stay_under_the_pool_size(database_url, samples, tmp_path):
    make_outbox(database_url, samples, MESSAGES)
    rng = random.Random(11)
    dump = tmp_path / "sink.json"
    with spawn_sink(engine="fast", dump=dump) as sink:
        env = worker_env(database_url, sink.port)
        killed_env = worker_env(database_url, sink.port, rate=KILLED_RATE)
        kills = 0
        while kills < KILLS and unsent(database_url):
            process = start_worker(killed_env)
            time.sleep(rng.uniform(0.8, 2.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        assert kills >= KILLS, "the outbox drained before ten kills: make it bigger"
        left = unsent(database_url)
        assert left > 0, "the outbox drained before the survivor started: make it bigger"
        survivor = start_worker(env)
        wait_until_sent(database_url, time.monotonic() + 300)
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0, survivor.stderr.read().decode()
        time.sleep(1.0)  # one more dump interval
        received = sink.stop()
    counts = collections.Counter(received["message_ids"])
    wanted = expected_ids(database_url)
    lost = wanted - set(counts)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\ncrash test: {MESSAGES} messages, {kills} SIGKILLs, {left} left for the survivor, {len(lost)} lost, {duplicates} duplicates "
          f"(bound: {kills} kills x pool {POOL} = {kills * POOL})")
    assert unsent(database_url) == 0
    assert lost == set()
    assert set(counts) == wanted
    assert duplicates <= kills * POOL
