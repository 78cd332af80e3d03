"""`digest mailbox` against a real dovecot: digests sent over real SMTP, their bounces,
complaints and unsubscribe requests delivered to real IMAP, read by the real command."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from digest.config import load_settings
from digest.jobs import utcnow
from digest.jobs.planning import queue_test_digest
from digest.scheduler import build_scheduler, mailbox_job
from digest.store.db import open_engine
from digest.store.tables import mail_events, subscribers
from digest.web.metrics import render_metrics
from tests.imap_server import dovecot  # noqa: F401 - the fixture
from tests.mailbox_samples import LIST_ADDRESS, fill

PEOPLE = ("ada@example.org", "bob@example.org", "cyd@example.org", "dee@example.org")
PROCESSED, SKIPPED, SEEN = "$DigestProcessed", "$DigestSkipped", "\\Seen"


@pytest.fixture
def mail_env(monkeypatch, smtp_sink, dovecot):  # noqa: F811 - pytest fixture injection
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(smtp_sink.port))
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret-key-for-signing-links")
    monkeypatch.setenv("DIGEST_BASE_URL", "https://digest.example.org")
    monkeypatch.setenv("DIGEST_FROM", f"Paper Digest <{LIST_ADDRESS}>")
    monkeypatch.setenv("DIGEST_IMAP_URL", dovecot.url)
    return smtp_sink


@pytest.fixture
def sent(cli, samples, mail_env, database_url):
    """Each person got a digest; ada got three. Returns {address: [Message-ID, ...]}."""
    for name in ("hf-listing-compact.txt", "hf-listing-with-metadata.txt"):
        assert cli("ingest", str(samples / "snapshots" / name)).exit_code == 0
    for address in PEOPLE:
        assert cli("subscribers", "add", address, "--keywords", "model", "--confirmed", "--send-empty").exit_code == 0
    assert cli("run", "--now").exit_code == 0
    engine, now = open_engine(database_url), utcnow()
    for second in (1, 2):  # test digests' periods are stamped to the second
        queue_test_digest(engine, "ada@example.org", now=now - timedelta(seconds=second))
    engine.dispose()
    assert cli("run").exit_code == 0
    found: dict[str, list[str]] = {}
    for message in mail_env.handler.messages:
        found.setdefault(message.rcpt_tos[0], []).append(message.message_id)
    assert sorted(found) == sorted(PEOPLE) and len(found["ada@example.org"]) == 3
    return found


def state(database_url) -> tuple[dict, list]:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        people = {row.email: (row.status, row.hard_bounces) for row in conn.execute(select(subscribers))}
        events = [(row.kind, row.recipient, row.status_code) for row in conn.execute(select(mail_events).order_by(mail_events.c.id))]
    engine.dispose()
    return people, events


def deliver_reports(dovecot, sent) -> dict[str, int]:  # noqa: F811
    """Every kind of mail the mailbox receives; returns {what: uid}."""
    ada, bob, dee = sent["ada@example.org"], sent["bob@example.org"][0], sent["dee@example.org"][0]
    mail = {
        "ada bounce 1": fill("dsn-hard.eml", message_id=ada[0], recipient="ada@example.org", tag="1"),
        "ada bounce 2": fill("dsn-multi.eml", message_id=ada[1], recipient="ada@example.org"),
        "ada bounce 3": fill("dsn-hard.eml", message_id=ada[2], recipient="ada@example.org", tag="3"),
        "bob complaint": fill("arf-abuse.eml", message_id=bob, recipient="bob@example.org"),
        "bob complaint again": fill("arf-abuse.eml", message_id=bob, recipient="bob@example.org"),
        "cyd unsubscribe": fill("mailto-unsubscribe.eml", recipient="cyd@example.org"),
        "dee soft bounce": fill("dsn-soft.eml", message_id=dee, recipient="dee@example.org"),
        "backscatter": fill("dsn-hard.eml", message_id="<spam.1234@elsewhere.example>", recipient="x@example.net", tag="9"),
        "dmarc report": fill("arf-auth-failure.eml", message_id=dee, recipient="dee@example.org"),
        "out of office": fill("out-of-office.eml", message_id=dee, recipient="dee@example.org"),
        "garbage": fill("garbage.eml"),
    }
    return {what: dovecot.append(raw) for what, raw in mail.items()}


ACTED = ("ada bounce 1", "ada bounce 2", "ada bounce 3", "bob complaint", "bob complaint again", "cyd unsubscribe",
         "dee soft bounce")
LEFT = ("backscatter", "dmarc report", "out of office", "garbage")


def test_reports_from_a_real_mailbox_change_statuses_once(cli, sent, dovecot, database_url):  # noqa: F811
    uids = deliver_reports(dovecot, sent)
    ran = cli("mailbox", "--json")
    assert ran.exit_code == 0, ran.stderr
    figures = ran.json()
    assert {k: figures[k] for k in ("messages", "hard_bounce", "soft_bounce", "complaint", "unsubscribe", "duplicate",
                                    "left", "bounced", "unsubscribed")} == {
        "messages": 11, "hard_bounce": 3, "soft_bounce": 1, "complaint": 1, "unsubscribe": 1, "duplicate": 1,
        "left": 4, "bounced": 1, "unsubscribed": 2}
    people, events = state(database_url)
    assert people == {"ada@example.org": ("bounced", 3), "bob@example.org": ("unsubscribed", 0),
                      "cyd@example.org": ("unsubscribed", 0), "dee@example.org": ("active", 0)}
    assert sorted(kind for kind, _, _ in events) == sorted(["hard_bounce"] * 3 + ["soft_bounce", "complaint", "unsubscribe"])
    for what in ACTED:
        assert {PROCESSED, SEEN} <= dovecot.flags(uids[what]), what
    for what in LEFT:  # still unread in the operator's mail client
        assert SKIPPED in dovecot.flags(uids[what]) and SEEN not in dovecot.flags(uids[what]), what

    again = cli("mailbox", "--json")
    assert again.exit_code == 0 and again.json()["messages"] == 0
    assert state(database_url) == (people, events)

    counted = {"hard_bounce": 3, "soft_bounce": 1, "complaint": 1, "unsubscribe": 1}
    assert cli("stats", "--json").json()["mailbox"] == counted
    engine = open_engine(database_url)
    exposition = render_metrics(engine)
    engine.dispose()
    for kind, count in counted.items():
        assert f'digest_mail_events_total{{kind="{kind}"}} {count}\n' in exposition


def test_a_message_flagged_late_is_read_again_and_changes_nothing(cli, sent, dovecot, database_url):  # noqa: F811
    """A crash between the commit and the IMAP flag: the next run finds the report's key recorded."""
    uid = dovecot.append(fill("arf-abuse.eml", message_id=sent["bob@example.org"][0], recipient="bob@example.org"))
    assert cli("mailbox").exit_code == 0
    before = state(database_url)
    dovecot.set_flags(uid, "-FLAGS", f"({PROCESSED} {SEEN})")
    ran = cli("mailbox", "--json")
    assert ran.json()["duplicate"] == 1 and state(database_url) == before
    assert PROCESSED in dovecot.flags(uid)


def test_dry_run_reads_but_changes_and_flags_nothing(cli, sent, dovecot, database_url):  # noqa: F811
    uids = deliver_reports(dovecot, sent)
    before = state(database_url)
    ran = cli("mailbox", "--dry-run", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["dry_run"] is True and ran.json()["bounced"] == 1 and ran.json()["messages"] == 11
    assert state(database_url) == before
    assert all(dovecot.flags(uid) == set() for uid in uids.values())
    human = cli("mailbox")
    assert human.exit_code == 0 and "hard bounce" in human.stdout and "left unread" in human.stderr


def test_a_wrong_password_is_one_line_and_exit_2(cli, mail_env, dovecot, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DIGEST_IMAP_URL", dovecot.url.replace(":imap-test-password@", ":wrong@"))
    ran = cli("mailbox")
    assert ran.exit_code == 2
    assert "login" in ran.stderr and "wrong" not in ran.stderr and "Traceback" not in ran.stderr


def test_password_from_a_file(cli, sent, dovecot, monkeypatch, tmp_path):  # noqa: F811
    secret = tmp_path / "imap_password"
    secret.write_text("imap-test-password\n")
    monkeypatch.setenv("DIGEST_IMAP_URL", dovecot.url.replace(":imap-test-password@", "@"))
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD_FILE", str(secret))
    dovecot.append(fill("mailto-unsubscribe.eml", recipient="cyd@example.org"))
    assert cli("mailbox", "--json").json()["unsubscribe"] == 1


def test_serve_schedules_the_mailbox_job_only_when_a_mailbox_is_set(mail_env, dovecot, database_url, monkeypatch,  # noqa: F811
                                                                    sent, caplog):
    dovecot.append(fill("mailto-unsubscribe.eml", recipient="dee@example.org"))
    engine = open_engine(database_url)
    assert "mailbox" in {job.id for job in build_scheduler(engine, load_settings()).get_jobs()}
    with caplog.at_level(logging.INFO, logger="digest.scheduler"):
        mailbox_job(engine, load_settings())
    engine.dispose()
    assert state(database_url)[0]["dee@example.org"] == ("unsubscribed", 0)
    monkeypatch.delenv("DIGEST_IMAP_URL")
    engine = open_engine(database_url)
    assert "mailbox" not in {job.id for job in build_scheduler(engine, load_settings()).get_jobs()}
    engine.dispose()


def test_an_unreachable_mailbox_is_logged_by_the_scheduler_job(mail_env, database_url, monkeypatch, caplog):
    monkeypatch.setenv("DIGEST_IMAP_URL", "imap://digest:pw@127.0.0.1:9/INBOX?security=none")
    engine = open_engine(database_url)
    with caplog.at_level(logging.WARNING, logger="digest.scheduler"):
        mailbox_job(engine, load_settings())
    engine.dispose()
    assert "cannot connect" in caplog.text and "pw@" not in caplog.text
