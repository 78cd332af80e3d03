"""Mail events: what the mailbox job learned (bounces, complaints, mailto unsubscribes).

One row per incoming message, unique on `report_key`, so reading the same message twice
records nothing twice. Every function takes the caller's Connection; none commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from digest.enums import MailEventKind
from digest.store.tables import mail_events
from digest.store.upsert import insert_ignoring_conflicts


@dataclass(frozen=True, slots=True, kw_only=True)
class MailEvent:
    """A row to record. `recipient` is the address the report names (bounced, complaining,
    or asking to unsubscribe); `status_code` a DSN's enhanced status."""

    kind: MailEventKind
    report_key: str
    subscriber_id: int | None
    delivery_id: int | None
    recipient: str | None
    status_code: str | None
    detail: str | None


def record(conn: Connection, event: MailEvent, *, now: datetime) -> bool:
    """Insert `event` unless its report_key is already recorded; True when it was inserted.

    Concurrent mailbox jobs are safe: the loser's insert does nothing (PostgreSQL waits for
    the winner's transaction first), so it applies no effects either.
    """
    values = asdict(event) | {"kind": str(event.kind), "created_at": now}
    values["recipient"] = (values["recipient"] or None) and values["recipient"][:320]
    values["status_code"] = (values["status_code"] or None) and values["status_code"][:16]
    statement = insert_ignoring_conflicts(conn, mail_events, ["report_key"]).values(values).returning(mail_events.c.id)
    return conn.execute(statement).first() is not None


def is_recorded(conn: Connection, report_key: str) -> bool:
    return conn.execute(select(mail_events.c.id).where(mail_events.c.report_key == report_key)).first() is not None


def delivery_hard_bounced(conn: Connection, delivery_id: int) -> bool:
    """Whether a hard bounce was already counted for this outbox row (a row bounces once,
    however many DSNs its relays send about it)."""
    query = select(mail_events.c.id).where(
        mail_events.c.delivery_id == delivery_id, mail_events.c.kind == MailEventKind.HARD_BOUNCE.value
    )
    return conn.execute(query.limit(1)).first() is not None


def counts_by_kind(conn: Connection, *, since: datetime | None = None) -> dict[str, int]:
    """Events per kind (every kind listed, zeros included), optionally since a time."""
    query = select(mail_events.c.kind, func.count()).group_by(mail_events.c.kind)
    if since is not None:
        query = query.where(mail_events.c.created_at >= since)
    found = {kind: count for kind, count in conn.execute(query)}
    return {kind.value: found.get(kind.value, 0) for kind in MailEventKind}
