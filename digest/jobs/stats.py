"""What `digest stats` shows: what is stored, what was sent, what the mailbox reported."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from digest.enums import SubscriberStatus
from digest.jobs.common import utcnow
from digest.store import stats as stats_store

__all__ = ["gather_stats"]


def gather_stats(engine: Engine, *, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Totals, subscribers by status (every status, zeros included), and for the last `days`
    days deliveries by status, mailbox events by kind and papers per listing day (oldest first)."""
    since = (now or utcnow()) - timedelta(days=days)
    with engine.connect() as conn:
        totals = stats_store.totals(conn)
        people = stats_store.subscribers_by_status(conn)
        sent = stats_store.deliveries_by_status(conn, since)
        per_day = stats_store.papers_per_listing_day(conn, days=days)
        mailbox = stats_store.mailbox_events(conn, since)
    return {**totals, "subscribers": {str(status): people.get(status, 0) for status in SubscriberStatus},
            "deliveries": sent, "deliveries_days": days, "mailbox": mailbox,
            "papers_per_listing_day": [{"day": day, "papers": count} for day, count in per_day]}
