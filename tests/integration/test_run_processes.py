"""The daily run on several processes: planned once, every message delivered exactly once.

`jobs.workers.plan_and_send_here` plans in a thread while this process sends;
`plan_and_send` does that beside sender processes (spawned, each with its own engine and
SMTP connections) claiming from the outbox too, against a real aiosmtpd sink, on SQLite
and (with DIGEST_TEST_DATABASE_URL) PostgreSQL.
"""

from __future__ import annotations

import collections
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from digest.config import load_settings
from digest.jobs import ingest_bytes
from digest.jobs.rendering import MailSetup
from digest.jobs import planner_process
from digest.jobs.planner_process import PlanningFailed
from digest.jobs.workers import plan_and_send, plan_and_send_here
from digest.mail.message_ids import make_message_id
from digest.store.bulk import insert_rows
from digest.store.db import write_transaction
from digest.store.subscribers import new_row
from digest.store.tables import deliveries, subscribers
from digest.subscribers import SubscriberSpec

PEOPLE = 600
SECRET = "processes-test-secret-0123456789abcdefghij"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def stock(engine, samples) -> None:
    """Papers from the fixtures and PEOPLE active subscribers; a few match nothing."""
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), input="plain")
    queries = ["pruning OR normalization", "title:diffusion", "zzzunmatched"]
    rows = [new_row(SubscriberSpec(email=f"reader{i}@example.org", status="active", interests=queries[i % 3],
                                   max_papers=3), now=NOW, cursor=0) for i in range(PEOPLE)]
    with write_transaction(engine) as conn:
        insert_rows(conn, subscribers, rows)


def settings_for(database_url: str, port: int):
    return load_settings(database_url=database_url, smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=4,
                         smtp_rate=100_000, secret_key=SECRET, DIGEST_FROM="Digest <digest@example.org>")


def sent_ids(engine, settings) -> set[str]:
    setup = MailSetup.from_settings(settings)
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries.c.id, deliveries.c.created_at).where(deliveries.c.status == "sent"))
        return {make_message_id(r.id, setup.domain, salt=setup.id_salt, created=r.created_at) for r in rows}


def assert_each_message_sent_once(engine, settings, run, smtp_sink) -> None:
    """Planned = sent in the outbox = sent by the run; every sent Message-ID reached the sink exactly once."""
    with engine.connect() as conn:
        by_status = dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all())
    counts = collections.Counter(smtp_sink.handler.message_ids)
    assert run.plan.planned == by_status["sent"] == run.sent.sent > 0
    assert run.plan.skipped_empty == by_status["skipped"] == PEOPLE // 3
    assert set(by_status) == {"sent", "skipped"}
    assert set(counts) == sent_ids(engine, settings)
    assert all(n == 1 for n in counts.values()), counts.most_common(3)


def test_three_sender_processes_deliver_every_message_exactly_once(engine, database_url, samples, smtp_sink):
    stock(engine, samples)
    settings = settings_for(database_url, smtp_sink.port)
    run = plan_and_send(engine, settings, processes=3, force=True, now=NOW)
    assert_each_message_sent_once(engine, settings, run, smtp_sink)
    assert len(run.senders) == 3 and all(s.failure is None for s in run.senders)
    assert run.senders[0].pid == os.getpid()  # this process sends too, beside two children
    assert sum(s.report["sent"] for s in run.senders) == run.sent.sent
    assert all(s.peak_rss_mb > 0 for s in run.senders)


def test_a_second_run_plans_and_sends_nothing(engine, database_url, samples, smtp_sink):
    stock(engine, samples)
    settings = settings_for(database_url, smtp_sink.port)
    first = plan_and_send(engine, settings, processes=2, force=True, now=NOW)
    again = plan_and_send(engine, settings, processes=2, force=True, now=NOW)
    assert first.sent.sent > 0
    assert again.plan.planned == 0 and again.sent.sent == 0
    assert len(smtp_sink.handler.messages) == first.sent.sent


def test_one_process_sends_while_planning_every_message_exactly_once(engine, database_url, samples, smtp_sink):
    stock(engine, samples)
    settings = settings_for(database_url, smtp_sink.port)
    run = plan_and_send_here(engine, settings, force=True, now=NOW, plan_batch=50)  # sends while planning
    assert_each_message_sent_once(engine, settings, run, smtp_sink)
    assert [s.report["sent"] for s in run.senders] == [run.sent.sent] and run.plan_seconds > 0
    again = plan_and_send_here(engine, settings, force=True, now=NOW)
    assert again.plan.planned == 0 and again.sent.sent == 0
    assert len(smtp_sink.handler.messages) == run.sent.sent


@pytest.mark.parametrize("start", ["fork", "spawn"])  # fork on Linux, spawn elsewhere
def test_a_planner_process_plans_while_this_one_sends_every_message_exactly_once(engine, database_url, samples,
                                                                                 smtp_sink, monkeypatch, start):
    stock(engine, samples)
    monkeypatch.setattr(planner_process, "PLAN_APART_FROM", PEOPLE)  # as a run of thousands does
    monkeypatch.setattr(planner_process, "_START_METHOD", start)
    settings = settings_for(database_url, smtp_sink.port)
    run = plan_and_send_here(engine, settings, force=True, now=NOW, plan_batch=50)
    assert_each_message_sent_once(engine, settings, run, smtp_sink)
    assert run.plan.due == PEOPLE  # the child's report, back in this process
    assert run.plan.process_peak_rss_mb > 0
    assert [s.report["sent"] for s in run.senders] == [run.sent.sent]


def test_a_planner_process_beside_sender_processes(engine, database_url, samples, smtp_sink, monkeypatch):
    stock(engine, samples)
    monkeypatch.setattr(planner_process, "PLAN_APART_FROM", PEOPLE)
    settings = settings_for(database_url, smtp_sink.port)
    run = plan_and_send(engine, settings, processes=2, force=True, now=NOW)
    assert_each_message_sent_once(engine, settings, run, smtp_sink)
    assert len(run.senders) == 2 and all(s.failure is None for s in run.senders)


def refuse_digest_rows_for(engine, subscriber_id: int) -> None:
    """A trigger: the database refuses any outbox row for `subscriber_id` (a write that fails)."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON deliveries WHEN NEW.subscriber_id = "
                                 f"{subscriber_id} BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END")
        else:
            conn.exec_driver_sql(f"CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.subscriber_id = "
                                 f"{subscriber_id} THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; "
                                 "RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_a_planner_process_that_fails_is_named_and_what_it_planned_is_sent_once(engine, database_url, samples,
                                                                                smtp_sink, monkeypatch):
    stock(engine, samples)
    monkeypatch.setattr(planner_process, "PLAN_APART_FROM", PEOPLE)
    with engine.connect() as conn:
        last = conn.execute(select(func.max(subscribers.c.id))).scalar()
    refuse_digest_rows_for(engine, last)
    settings = settings_for(database_url, smtp_sink.port)
    with pytest.raises(PlanningFailed, match="planning failed in its process: .*refused by the test trigger"):
        plan_and_send_here(engine, settings, force=True, now=NOW, plan_batch=50)
    with engine.connect() as conn:
        by_status = dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all())
    counts = collections.Counter(smtp_sink.handler.message_ids)
    assert by_status.get("queued", 0) == by_status.get("sending", 0) == 0  # nothing planned is left behind
    assert by_status["sent"] > 0 and set(counts) == sent_ids(engine, settings)
    assert all(n == 1 for n in counts.values())


def test_a_zone_unknown_here_skips_that_subscriber_not_the_run(engine, database_url, samples, smtp_sink,
                                                              monkeypatch, caplog):
    stock(engine, samples)
    with write_transaction(engine) as conn:  # e.g. written by a host whose tzdata is newer
        conn.execute(subscribers.update().where(subscribers.c.id == 1).values(timezone="Mars/Olympus"))
    settings = settings_for(database_url, smtp_sink.port)
    run = plan_and_send_here(engine, settings, force=True, now=NOW, plan_batch=50)
    assert run.plan.due == PEOPLE - 1 and run.sent.sent == run.plan.planned > 0
    assert "subscriber 1 not planned: time zone 'Mars/Olympus' is unknown here" in caplog.text
    with engine.connect() as conn:
        planned_for_one = conn.execute(select(func.count()).select_from(deliveries)
                                       .where(deliveries.c.subscriber_id == 1)).scalar()
        cursor = conn.execute(select(subscribers.c.cursor).where(subscribers.c.id == 1)).scalar()
    assert planned_for_one == 0 and cursor == 0  # nothing of theirs is used up: fixed, they get it all
