"""The outbox against a misbehaving relay: retries, permanent failures, drops, slowness.

Real aiosmtpd (scripted per recipient), real SmtpSender, real database; the clock is a
parameter so a retry "later" is a step of the test, not a wait.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from digest.jobs import add_subscriber, ingest_bytes
from digest.enums import DeliveryStatus
from digest.jobs.dispatch import Dispatcher, _settle_unsent
from digest.jobs.settling import Settler
from digest.jobs.planning import plan_digests
from digest.jobs.rendering import MailSetup
from digest.mail.breaker import CircuitBreaker
from digest.mail.smtp import SmtpConfig, SmtpSender
from digest.config import load_settings
from digest.store.tables import deliveries, subscribers
from digest.store import outbox
from digest.store.db import write_transaction
from digest.subscribers import spec_from
from tests.smtp_server import drop, reply, slow
from tests.fakes import FakeClock, MemorySender

PEOPLE = ("ada@example.org", "bob@example.org", "cyd@example.org")


@pytest.fixture
def world(engine, samples):
    clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc))
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), input="plain", now=clock())
    for address in PEOPLE:
        add_subscriber(engine, spec_from({"email": address, "interests": "normalization OR pruning", "status": "active"}),
                       now=clock() - timedelta(days=1))
    assert plan_digests(engine, clock(), force=True).planned == 3
    return engine, clock


def drain(engine, clock, server, *, timeout: float = 5.0, breaker: CircuitBreaker | None = None):
    settings = load_settings(secret_key="test-secret-key-for-signing-links", base_url="https://digest.example.org",
                             **{"DIGEST_FROM": "Digest <digest@example.org>"})
    config = SmtpConfig(host="127.0.0.1", port=server.port, pool_size=1, rate_per_second=None, timeout=timeout,
                        local_hostname="test.local")

    async def go():
        async with SmtpSender(config) as sender:
            return await Dispatcher(engine, sender, MailSetup.from_settings(settings), concurrency=1,
                                    clock=clock, breaker=breaker or CircuitBreaker()).drain()

    return asyncio.run(go())


def rows(engine) -> dict[str, object]:
    with engine.connect() as conn:
        query = select(subscribers.c.email, deliveries).join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        return {row.email: row for row in conn.execute(query.where(deliveries.c.kind == "digest"))}


def delivered_to(server) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in server.handler.messages)


def test_451_is_retried_with_backoff_and_delivered_later(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": reply(451, "try later", times=1)})
    first = drain(engine, clock, server)
    assert (first.sent, first.retried, first.failed) == (2, 1, 0)
    bob = rows(engine)["bob@example.org"]
    assert (bob.status, bob.attempts, bob.last_code) == ("queued", 1, 451)
    assert bob.next_attempt_at > clock()
    assert drain(engine, clock, server).sent == 0  # not due yet
    clock.advance(minutes=5)
    assert drain(engine, clock, server).sent == 1
    assert delivered_to(server) == sorted(PEOPLE)
    assert {r.status for r in rows(engine).values()} == {"sent"}


def test_550_fails_for_good_and_the_others_on_the_same_connection_go_through(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": reply(550, "5.1.1 no such user")})
    report = drain(engine, clock, server)
    assert (report.sent, report.failed, report.retried) == (2, 1, 0)
    bob = rows(engine)["bob@example.org"]
    assert (bob.status, bob.last_code) == ("failed", 550)
    assert "no such user" in bob.last_error
    clock.advance(days=1)
    assert drain(engine, clock, server).sent == 0
    assert delivered_to(server) == ["ada@example.org", "cyd@example.org"]
    assert server.handler.connections == 1
    with engine.connect() as conn:
        assert conn.execute(select(subscribers.c.hard_bounces).where(subscribers.c.email == "bob@example.org")).scalar() == 1


def test_three_hard_bounces_mark_the_subscriber_bounced(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": reply(550, "no such user")})
    for day in range(3):
        if day:
            clock.advance(days=1)
            plan_digests(engine, clock(), force=True, only="bob@example.org")
        drain(engine, clock, server)
    with engine.connect() as conn:
        status = conn.execute(select(subscribers.c.status).where(subscribers.c.email == "bob@example.org")).scalar()
    assert status == "bounced"


def test_connection_dropped_after_data_is_retried_and_the_possible_duplicate_counted(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": drop(times=1)})
    first = drain(engine, clock, server)
    assert first.retried == 1 and first.maybe_delivered == 1
    clock.advance(minutes=5)
    assert drain(engine, clock, server).sent == 1
    assert delivered_to(server) == sorted(PEOPLE)
    assert len(server.handler.dropped) == 1
    assert rows(engine)["bob@example.org"].maybe_delivered == 1


def test_slow_server_times_out_and_is_retried(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": slow(3.0, times=1)})
    first = drain(engine, clock, server, timeout=1.0)
    assert first.retried == 1 and first.sent == 2
    clock.advance(minutes=5)
    assert drain(engine, clock, server, timeout=1.0).sent == 1
    assert {r.status for r in rows(engine).values()} == {"sent"}


def test_gives_up_after_the_retry_window(world, scripted_smtp):
    engine, clock = world
    server = scripted_smtp({"bob@example.org": reply(421, "busy")})
    drain(engine, clock, server)
    clock.advance(hours=49)
    report = drain(engine, clock, server)
    bob = rows(engine)["bob@example.org"]
    assert report.failed == 1 and bob.status == "failed" and "gave up" in bob.last_error


def test_relay_down_opens_the_circuit_breaker_and_nothing_is_lost(world, scripted_smtp, caplog):
    engine, clock = world
    server = scripted_smtp(decide=lambda address, stage, attempt: reply(421, "down", at="rcpt"))
    breaker = CircuitBreaker(window=3, threshold=0.5, min_samples=3, cooldown_seconds=60)
    report = drain(engine, clock, server, breaker=breaker)
    assert report.retried == 3 and breaker.state == "open"
    assert "pausing sending" in caplog.text
    assert {r.status for r in rows(engine).values()} == {"queued"}


def test_a_sender_that_raises_ends_the_run_with_its_error_and_hands_back_what_it_claimed(world):
    """A Sender must return a result; one that raises (a bug) ends the run with its error, it
    does not hang it, and no message is lost: the unsent ones are queued again."""
    engine, clock = world
    settings = load_settings(secret_key="test-secret-key-for-signing-links", base_url="https://digest.example.org",
                             **{"DIGEST_FROM": "Digest <digest@example.org>"})
    first = min(row.id for row in rows(engine).values())
    sender = MemorySender()
    sender.crash(first, RuntimeError("sender bug"))

    async def go():
        dispatcher = Dispatcher(engine, sender, MailSetup.from_settings(settings), concurrency=1, clock=clock)
        return await asyncio.wait_for(dispatcher.drain(), timeout=20)

    with pytest.raises(RuntimeError, match="sender bug"):
        asyncio.run(go())
    assert {row.status for row in rows(engine).values()} <= {"queued", "sent"}
    assert all(row.lease_owner is None for row in rows(engine).values())
    sent_before = len(sender.sent)
    assert asyncio.run(go()).sent == 3 - sent_before
    assert sorted(m.recipients[0] for m in sender.sent) == sorted(PEOPLE)


def test_settlements_share_a_commit_and_wait_for_others_no_longer_than_the_linger(world):
    """Group commit: once every sender waits, their settlements are written at once (no
    linger); a lone settlement waits at most the linger for others to share its commit."""
    engine, clock = world
    with write_transaction(engine) as conn:
        claimed = outbox.claim(conn, owner="settler-test", now=clock(), lease=timedelta(minutes=5), limit=10)
    assert len(claimed) == 3

    async def settle(batch, *, size: int, linger: float) -> float:
        settler = Settler(engine, clock, size=size, linger=linger)
        started = time.perf_counter()
        await asyncio.gather(*(settler.record(_settle_unsent(row, DeliveryStatus.SKIPPED, "test")) for row in batch))
        return time.perf_counter() - started

    assert asyncio.run(settle(claimed[:2], size=2, linger=30.0)) < 10  # both senders wait: no linger
    assert 0.2 <= asyncio.run(settle(claimed[2:], size=3, linger=0.2)) < 10
    assert {row.status for row in rows(engine).values()} == {"skipped"}


def test_a_claim_takes_the_earliest_due_rows_whether_queued_or_with_a_lapsed_lease(world):
    """Queued rows and rows whose sender's lease lapsed are claimed together, earliest due
    first (SQLite merges the two, each limited on its own); a live lease is left alone."""
    engine, clock = world
    now = clock()
    lease = timedelta(minutes=5)
    with write_transaction(engine) as conn:
        ids = [row.id for row in outbox.claim(conn, owner="first", now=now, lease=lease, limit=10)]
    assert len(ids) == 3
    requeued, lapsed, live = ids
    with write_transaction(engine) as conn:
        conn.execute(update(deliveries).where(deliveries.c.id == requeued).values(
            status="queued", lease_owner=None, lease_expires_at=None, next_attempt_at=now - timedelta(minutes=1)))
        conn.execute(update(deliveries).where(deliveries.c.id == lapsed).values(
            next_attempt_at=now - timedelta(minutes=10), lease_expires_at=now - timedelta(seconds=1)))
    with write_transaction(engine) as conn:
        first = outbox.claim(conn, owner="second", now=now, lease=lease, limit=1)
        rest = outbox.claim(conn, owner="second", now=now, lease=lease, limit=10)
    assert [row.id for row in first] == [lapsed]
    assert [row.id for row in rest] == [requeued]
    assert {row.id: row.lease_owner for row in rows(engine).values()}[live] == "first"
