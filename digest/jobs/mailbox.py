"""Mailbox use case: act on the bounces, complaints and unsubscribe requests in our mailbox.

`read_mailbox` takes every message the mailbox has not handed out before, classifies it
(`mail.reports.classify`, pure) and applies it in one transaction together with its
`mail_events` row, which is unique on the report's key, so a message read twice (a crash
between the commit and the IMAP flag, two processes, a copy in the mailbox) changes
nothing the second time:

* a DSN with a 5.x.x status counts one hard bounce against the subscriber of the outbox row
  whose Message-ID it quotes (at most one per row); the third marks them bounced, by the same
  rule as an SMTP 5xx reply (`store.outbox.count_hard_bounces`);
* a 4.x.x DSN is recorded and otherwise ignored;
* an ARF complaint unsubscribes at once;
* "unsubscribe" mail unsubscribes the sender's address when it is a subscriber.

A report is only acted on when the Message-ID it quotes is one we made for that row
(`mail.message.delivery_id_of` recomputes it), so backscatter about spam that borrowed our
address, or a report we cannot tie to a delivery, is left for a person like any other
mail. The mailbox then flags what was handled and what was left, so neither is read again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Connection, Engine, Row

from digest.config import Settings
from digest.enums import MailEventKind, SubscriberStatus
from digest.errors import ConfigError
from digest.jobs.common import utcnow
from digest.jobs.rendering import MailSetup
from digest.mail.imap import ImapMailbox, imap_config
from digest.mail.message_ids import delivery_id_of
from digest.mail.reports import MailReport, classify
from digest.store import mail_events, outbox
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.mail_events import MailEvent

log = logging.getLogger("digest.mailbox")

DEFAULT_LIMIT = 500  # messages per run: a backlog drains over a few runs, memory stays flat
# Who a late hard bounce still counts against (an unsubscribed or bounced one is left as is).
BOUNCE_COUNTS_FOR = frozenset({SubscriberStatus.PENDING, SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED})
# Who a complaint or mailto request unsubscribes: the same moves as the web unsubscribe button.
UNSUBSCRIBE_FROM = frozenset({SubscriberStatus.PENDING, SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED,
                              SubscriberStatus.BOUNCED})


class Mailbox(Protocol):
    """Where reports come from (`mail.imap.ImapMailbox`; any small class in tests)."""

    def unprocessed(self, limit: int | None = None) -> list[int]:
        """Ids of the messages not yet marked either way, oldest first."""

    def fetch(self, uid: int) -> bytes | None:
        """The raw message, or None when it is gone or too large to read."""

    def mark_processed(self, uid: int) -> None:
        """Acted on (or recorded before): never handed out again, shown as read."""

    def mark_left(self, uid: int) -> None:
        """Not ours: never handed out again, left unread for a person."""


class MessageOutcome(StrEnum):
    """What became of one message."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    DUPLICATE = "duplicate"  # recorded by an earlier run (or earlier in this one)
    LEFT = "left"  # not ours: left unread for a person
    SKIPPED = "skipped"  # could not be fetched: untouched, offered again next run


@dataclass(frozen=True, slots=True, kw_only=True)
class Handled:
    uid: int
    outcome: MessageOutcome
    detail: str
    subscriber: str | None = None  # the address acted on
    status_change: SubscriberStatus | None = None  # what their status became, when it changed

    def as_dict(self) -> dict:
        return {"uid": self.uid, "outcome": str(self.outcome), "subscriber": self.subscriber,
                "status_change": str(self.status_change) if self.status_change else None, "detail": self.detail}


@dataclass(slots=True)
class MailboxReport:
    messages: list[Handled] = field(default_factory=list)

    def count(self, outcome: MessageOutcome) -> int:
        return sum(1 for handled in self.messages if handled.outcome == outcome)

    def changed(self, status: SubscriberStatus) -> int:
        return sum(1 for handled in self.messages if handled.status_change == status)

    def as_dict(self) -> dict:
        counts = {str(outcome): self.count(outcome) for outcome in MessageOutcome}
        return {"messages": len(self.messages), **counts, "bounced": self.changed(SubscriberStatus.BOUNCED),
                "unsubscribed": self.changed(SubscriberStatus.UNSUBSCRIBED)}


def mailbox_configured(settings: Settings) -> bool:
    """Whether DIGEST_IMAP_URL is set; ConfigError when it is set but malformed."""
    return imap_config(settings) is not None


def check_mailbox(engine: Engine, settings: Settings, *, dry_run: bool = False, limit: int | None = DEFAULT_LIMIT,
                  now: datetime | None = None) -> MailboxReport:
    """Read the configured mailbox (DIGEST_IMAP_URL) once; a dry run opens it read-only.

    Raises ConfigError when no mailbox is configured, MailboxError when it cannot be read.
    """
    config = imap_config(settings)
    if config is None:
        raise ConfigError("DIGEST_IMAP_URL is not set: point it at the mailbox of the envelope sender "
                          "(DIGEST_FROM's address), e.g. imaps://user:password@imap.example.org/INBOX")
    salt = MailSetup.from_settings(settings).id_salt
    with ImapMailbox(config, readonly=dry_run) as mailbox:
        return read_mailbox(engine, mailbox, salt=salt, now=now, dry_run=dry_run, limit=limit)


def read_mailbox(engine: Engine, mailbox: Mailbox, *, salt: str, now: datetime | None = None,
                 dry_run: bool = False, limit: int | None = DEFAULT_LIMIT) -> MailboxReport:
    """Handle every message `mailbox` has not handed out before (at most `limit`).

    `salt` is the installation's Message-ID salt (`MailSetup.id_salt`). With `dry_run`
    everything runs in one transaction that is rolled back, and nothing is flagged (open
    the mailbox read-only too). Safe to re-run; a database error stops the run (what was
    committed stays, and is flagged, or found again by its key next time).
    """
    now = now or utcnow()
    report = MailboxReport()
    with _dry_run_transaction(engine, dry_run) as shared:
        for uid in mailbox.unprocessed(limit):
            handled = _handle_message(engine, shared, mailbox, uid, salt=salt, now=now)
            report.messages.append(handled)
            _log(handled)
            if not dry_run:
                _mark(mailbox, handled)
    return report


@contextmanager
def _dry_run_transaction(engine: Engine, dry_run: bool) -> Iterator[Connection | None]:
    """One transaction for the whole dry run, rolled back, so its figures add up (three
    bounces in one run show the subscriber bounced) and nothing stays. None otherwise."""
    if not dry_run:
        yield None
        return
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def _handle_message(engine: Engine, shared: Connection | None, mailbox: Mailbox, uid: int, *, salt: str,
                    now: datetime) -> Handled:
    raw = mailbox.fetch(uid)
    if raw is None:
        return Handled(uid=uid, outcome=MessageOutcome.SKIPPED, detail="could not be fetched (gone, or over the size limit)")
    report = classify(raw)
    if not report.is_ours:
        return Handled(uid=uid, outcome=MessageOutcome.LEFT, detail=report.detail)
    if shared is not None:
        return apply_report(shared, report, uid=uid, salt=salt, now=now)
    with write_transaction(engine) as conn:
        return apply_report(conn, report, uid=uid, salt=salt, now=now)


def _mark(mailbox: Mailbox, handled: Handled) -> None:
    if handled.outcome == MessageOutcome.LEFT:
        mailbox.mark_left(handled.uid)
    elif handled.outcome != MessageOutcome.SKIPPED:
        mailbox.mark_processed(handled.uid)


def _log(handled: Handled) -> None:
    if handled.outcome == MessageOutcome.SKIPPED or handled.detail.startswith("unreadable"):
        log.warning("mailbox message %s left alone: %s", handled.uid, handled.detail)
    elif handled.outcome not in (MessageOutcome.LEFT, MessageOutcome.DUPLICATE):
        change = f", now {handled.status_change}" if handled.status_change else ""
        log.info("mailbox message %s: %s for %s%s", handled.uid, handled.outcome, handled.subscriber, change)


# ---- one report, in the caller's transaction -----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    subscriber: Row | None
    delivery_id: int | None
    note: str = ""


def apply_report(conn: Connection, report: MailReport, *, uid: int, salt: str, now: datetime) -> Handled:
    """Record `report` and apply its effect in `conn`'s transaction (the caller commits).

    Returns DUPLICATE when its key is recorded already and LEFT when it concerns no
    message or subscriber of ours; neither writes anything.
    """
    if mail_events.is_recorded(conn, report.report_key):
        return Handled(uid=uid, outcome=MessageOutcome.DUPLICATE, detail="recorded by an earlier run")
    target = _target(conn, report, salt)
    if isinstance(target, str):
        return Handled(uid=uid, outcome=MessageOutcome.LEFT, detail=target)
    first_bounce = target.delivery_id is None or not mail_events.delivery_hard_bounced(conn, target.delivery_id)
    subscriber = target.subscriber
    event = MailEvent(kind=report.kind, report_key=report.report_key, subscriber_id=subscriber.id if subscriber else None,
                      delivery_id=target.delivery_id, recipient=report.recipient or (subscriber and subscriber.email),
                      status_code=report.status, detail=" ".join(filter(None, (report.detail, target.note))) or None)
    if not mail_events.record(conn, event, now=now):
        return Handled(uid=uid, outcome=MessageOutcome.DUPLICATE, detail="recorded by a concurrent run")
    change = _apply_effect(conn, report.kind, subscriber, first_bounce=first_bounce, now=now)
    return Handled(uid=uid, outcome=MessageOutcome(report.kind.value), detail=event.detail or "",
                   subscriber=subscriber.email if subscriber else None, status_change=change)


def _target(conn: Connection, report: MailReport, salt: str) -> _Target | str:
    """Who a report is about, or why it is left for a person."""
    if report.kind == MailEventKind.UNSUBSCRIBE:
        row = subscriber_store.find(conn, report.recipient) if report.recipient else None
        return _Target(row, None) if row is not None else f"sender {report.recipient} is not a subscriber"
    delivery_id = next((d for d in (delivery_id_of(m, salt=salt) for m in report.candidate_message_ids) if d), None)
    if delivery_id is not None:
        subscriber_id = outbox.subscriber_of(conn, delivery_id)
        if subscriber_id is None:  # the subscriber was removed, and their deliveries with them
            return _Target(None, None, f"(delivery {delivery_id} is no longer stored)")
        return _Target(subscriber_store.by_id(conn, subscriber_id), delivery_id)
    if report.kind == MailEventKind.COMPLAINT and not report.candidate_message_ids and report.recipient:
        # Large mailbox providers strip the Message-ID from complaints: the recipient is all there is.
        row = subscriber_store.find(conn, report.recipient)
        if row is not None:
            return _Target(row, None, "(matched by recipient address)")
    return "refers to no message we sent" if report.candidate_message_ids else "names no message of ours"


def _apply_effect(conn: Connection, kind: MailEventKind, subscriber: Row | None, *, first_bounce: bool,
                  now: datetime) -> SubscriberStatus | None:
    """Change the subscriber as the report asks; returns their new status when it changed."""
    if subscriber is None or kind == MailEventKind.SOFT_BOUNCE:
        return None
    if kind == MailEventKind.HARD_BOUNCE:
        if not first_bounce or subscriber.status not in BOUNCE_COUNTS_FOR:
            return None
        outbox.count_hard_bounces(conn, [subscriber.id], now)
        after = subscriber_store.by_id(conn, subscriber.id)
        return SubscriberStatus(after.status) if after.status != subscriber.status else None
    if subscriber.status not in UNSUBSCRIBE_FROM:
        return None
    subscriber_store.change(conn, subscriber.id, {"status": SubscriberStatus.UNSUBSCRIBED.value}, now=now)
    return SubscriberStatus.UNSUBSCRIBED
