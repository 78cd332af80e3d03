"""Counts for `digest stats` and the metrics endpoint: a handful of GROUP BY queries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, func, select

from digest.store import mail_events
from digest.store.tables import deliveries, papers, snapshots, subscribers


def totals(conn: Connection) -> dict[str, int]:
    return {
        "papers": conn.execute(select(func.count()).select_from(papers)).scalar_one(),
        "snapshots": conn.execute(select(func.count()).select_from(snapshots)).scalar_one(),
    }


def subscribers_by_status(conn: Connection) -> dict[str, int]:
    query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    return {row[0]: row[1] for row in conn.execute(query)}


def deliveries_by_status(conn: Connection, since: datetime) -> dict[str, int]:
    query = (
        select(deliveries.c.status, func.count())
        .where(deliveries.c.created_at >= since, deliveries.c.kind == "digest")
        .group_by(deliveries.c.status)
    )
    return {row[0]: row[1] for row in conn.execute(query)}


def papers_per_listing_day(conn: Connection, *, days: int) -> list[tuple[date, int]]:
    """(listing day, papers) for the most recent `days` listing days, oldest first."""
    query = (
        select(papers.c.listing_day, func.count())
        .where(papers.c.listing_day.is_not(None))
        .group_by(papers.c.listing_day)
        .order_by(papers.c.listing_day.desc())
        .limit(days)
    )
    return sorted((row[0], row[1]) for row in conn.execute(query))


def mailbox_events(conn: Connection, since: datetime | None = None) -> dict[str, int]:
    """What the mailbox job recorded (hard/soft bounces, complaints, unsubscribes), every kind listed."""
    return mail_events.counts_by_kind(conn, since=since)
