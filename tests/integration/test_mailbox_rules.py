"""read_mailbox's rules on both databases, fed by a small in-memory mailbox (dovecot: test_mailbox.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from digest.jobs import add_subscriber, remove_subscriber, set_status
from digest.jobs.mailbox import MessageOutcome, read_mailbox
from digest.mail.message_ids import make_message_id
from digest.store import outbox
from digest.store.db import write_transaction
from digest.store.tables import mail_events, subscribers
from digest.subscribers import spec_from
from tests.mailbox_samples import fill

SALT = "salt-for-tests"
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class ListMailbox:
    """The Mailbox protocol over a dict: what a test appends, the job reads and marks."""

    def __init__(self, *messages: bytes | None) -> None:
        self.messages = dict(enumerate(messages, start=1))
        self.processed: set[int] = set()
        self.left: set[int] = set()

    def unprocessed(self, limit: int | None = None) -> list[int]:
        return [uid for uid in self.messages if uid not in self.processed | self.left][:limit]

    def fetch(self, uid: int) -> bytes | None:
        return self.messages[uid]

    def mark_processed(self, uid: int) -> None:
        self.processed.add(uid)

    def mark_left(self, uid: int) -> None:
        self.left.add(uid)


@pytest.fixture
def people(engine):
    for address in ("ada@example.com", "bob@example.com"):
        add_subscriber(engine, spec_from({"email": address, "status": "active"}), now=NOW - timedelta(days=9))
    return engine


def sent_digests(engine, address: str, count: int) -> list[str]:
    """Store `count` sent digest rows for `address`; their Message-IDs, oldest first."""
    with write_transaction(engine) as conn:
        sid = conn.execute(select(subscribers.c.id).where(subscribers.c.email == address)).scalar_one()
        rows = [outbox.new_row(sid, "digest", f"2026-11-{20 + n}", items=[], cursor_to=0, now=NOW, status="sent")
                for n in range(count)]
        outbox.insert_planned(conn, rows)
    with engine.connect() as conn:
        ids = conn.execute(select(func.max(outbox.deliveries.c.id))).scalar_one()
    return [make_message_id(i, "example.org", salt=SALT) for i in range(ids - count + 1, ids + 1)]


def subscriber(engine, address: str):
    with engine.connect() as conn:
        return conn.execute(select(subscribers).where(subscribers.c.email == address)).one()


def events(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(mail_events).order_by(mail_events.c.id)))


def run(engine, mailbox, **kwargs):
    return read_mailbox(engine, mailbox, salt=SALT, now=NOW, **kwargs)


def test_three_hard_bounces_mark_the_subscriber_bounced_and_a_rerun_changes_nothing(people):
    ids = sent_digests(people, "ada@example.com", 3)
    messages = [fill("dsn-hard.eml", message_id=m, recipient="ada@example.com", tag=str(n)) for n, m in enumerate(ids)]
    report = run(people, ListMailbox(*messages))
    assert [h.outcome for h in report.messages] == [MessageOutcome.HARD_BOUNCE] * 3
    assert [h.status_change for h in report.messages] == [None, None, "bounced"]
    ada = subscriber(people, "ada@example.com")
    assert ada.status == "bounced" and ada.hard_bounces == 3 and ada.bounced_at is not None
    assert [(e.kind, e.status_code, e.subscriber_id) for e in events(people)] == [("hard_bounce", "5.1.1", ada.id)] * 3
    again = run(people, ListMailbox(*messages))  # the same mail, not flagged (a crash before the flag)
    assert [h.outcome for h in again.messages] == [MessageOutcome.DUPLICATE] * 3
    assert subscriber(people, "ada@example.com").hard_bounces == 3 and len(events(people)) == 3


def test_two_dsns_about_one_digest_count_one_bounce(people):
    [message_id] = sent_digests(people, "ada@example.com", 1)
    mailbox = ListMailbox(fill("dsn-hard.eml", message_id=message_id, recipient="ada@example.com", tag="1"),
                          fill("dsn-multi.eml", message_id=message_id, recipient="ada@example.com"))
    report = run(people, mailbox)
    assert [h.outcome for h in report.messages] == [MessageOutcome.HARD_BOUNCE] * 2
    assert subscriber(people, "ada@example.com").hard_bounces == 1 and len(events(people)) == 2
    assert mailbox.processed == {1, 2}


@pytest.mark.parametrize("name", ["dsn-soft.eml", "dsn-delayed.eml"])
def test_a_soft_bounce_is_recorded_and_counts_nothing(people, name):
    [message_id] = sent_digests(people, "ada@example.com", 1)
    report = run(people, ListMailbox(fill(name, message_id=message_id, recipient="ada@example.com")))
    assert report.messages[0].outcome == MessageOutcome.SOFT_BOUNCE
    ada = subscriber(people, "ada@example.com")
    assert ada.status == "active" and ada.hard_bounces == 0
    assert [e.kind for e in events(people)] == ["soft_bounce"]


def test_a_complaint_unsubscribes_at_once(people):
    [message_id] = sent_digests(people, "bob@example.com", 1)
    report = run(people, ListMailbox(fill("arf-abuse.eml", message_id=message_id, recipient="bob@example.com")))
    assert report.messages[0].outcome == MessageOutcome.COMPLAINT and report.messages[0].status_change == "unsubscribed"
    bob = subscriber(people, "bob@example.com")
    assert bob.status == "unsubscribed" and bob.unsubscribed_at is not None
    assert subscriber(people, "ada@example.com").status == "active"


def test_a_complaint_without_a_message_id_is_matched_by_its_recipient(people):
    run(people, ListMailbox(fill("arf-redacted.eml", recipient="bob@example.com")))
    assert subscriber(people, "bob@example.com").status == "unsubscribed"
    assert "matched by recipient" in events(people)[0].detail


@pytest.mark.parametrize("name", ["dsn-hard.eml", "arf-abuse.eml"])
def test_reports_about_mail_we_did_not_send_are_left_for_a_person(people, name):
    sent_digests(people, "ada@example.com", 1)
    forged = make_message_id(1, "example.org", salt="another-installation")  # backscatter, or a guess
    mailbox = ListMailbox(fill(name, message_id=forged, recipient="ada@example.com"))
    report = run(people, mailbox)
    assert report.messages[0].outcome == MessageOutcome.LEFT and "no message we sent" in report.messages[0].detail
    assert mailbox.left == {1} and events(people) == []
    assert subscriber(people, "ada@example.com").status == "active"


def test_mailto_unsubscribe_acts_only_for_a_subscriber(people):
    mailbox = ListMailbox(fill("mailto-unsubscribe.eml", recipient="BOB@Example.com"),
                          fill("mailto-unsubscribe.eml", recipient="stranger@example.com").replace(b"c1a2b3d4", b"ffff0000"))
    report = run(people, mailbox)
    assert [h.outcome for h in report.messages] == [MessageOutcome.UNSUBSCRIBE, MessageOutcome.LEFT]
    assert subscriber(people, "bob@example.com").status == "unsubscribed"
    assert "not a subscriber" in report.messages[1].detail
    assert mailbox.processed == {1} and mailbox.left == {2}


def test_a_late_bounce_does_not_turn_an_unsubscribed_subscriber_into_a_bounced_one(people):
    [message_id] = sent_digests(people, "ada@example.com", 1)
    set_status(people, "ada@example.com", "unsubscribed")
    run(people, ListMailbox(fill("dsn-hard.eml", message_id=message_id, recipient="ada@example.com")))
    ada = subscriber(people, "ada@example.com")
    assert ada.status == "unsubscribed" and ada.hard_bounces == 0 and len(events(people)) == 1


def test_a_bounce_for_a_removed_subscriber_is_recorded_without_one(people):
    [message_id] = sent_digests(people, "ada@example.com", 1)
    remove_subscriber(people, "ada@example.com")
    report = run(people, ListMailbox(fill("dsn-hard.eml", message_id=message_id, recipient="ada@example.com")))
    assert report.messages[0].outcome == MessageOutcome.HARD_BOUNCE and report.messages[0].subscriber is None
    [event] = events(people)
    assert event.subscriber_id is None and event.delivery_id is None and "no longer stored" in event.detail


def test_garbage_is_left_and_an_unfetchable_message_is_left_alone(people):
    mailbox = ListMailbox(fill("garbage.eml"), None, fill("out-of-office.eml"))
    report = run(people, mailbox)
    assert [h.outcome for h in report.messages] == [MessageOutcome.LEFT, MessageOutcome.SKIPPED, MessageOutcome.LEFT]
    assert mailbox.left == {1, 3} and mailbox.processed == set()
    assert mailbox.unprocessed() == [2]


def test_a_dry_run_reports_the_outcomes_and_changes_nothing(people):
    ids = sent_digests(people, "ada@example.com", 3)
    messages = [fill("dsn-hard.eml", message_id=m, recipient="ada@example.com", tag=str(n)) for n, m in enumerate(ids)]
    mailbox = ListMailbox(*messages, fill("mailto-unsubscribe.eml", recipient="bob@example.com"))
    report = run(people, mailbox, dry_run=True)
    assert report.as_dict()["bounced"] == 1 and report.as_dict()["unsubscribed"] == 1
    assert mailbox.processed == set() and mailbox.left == set() and events(people) == []
    assert subscriber(people, "ada@example.com").hard_bounces == 0
    assert subscriber(people, "bob@example.com").status == "active"


def test_limit_reads_a_backlog_over_several_runs(people):
    mailbox = ListMailbox(*(fill("out-of-office.eml").replace(b"ooo-42", f"ooo-{n}".encode()) for n in range(5)))
    assert len(run(people, mailbox, limit=2).messages) == 2
    assert len(run(people, mailbox, limit=2).messages) == 2
    assert len(run(people, mailbox, limit=2).messages) == 1
    assert run(people, mailbox).messages == []
