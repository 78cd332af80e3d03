"""What `digest stats` shows: what is stored, what was sent, what the mailbox reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from digest.enums import DeliveryKind, SubscriberStatus
from digest.jobs.common import utcnow
from digest.store import mail_events, outbox
from digest.store import papers as paper_store
from digest.store import stats as stats_store
from digest.store import subscribers as subscriber_store

__all__ = ["MetricCounts", "gather_metrics", "gather_stats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricCounts:
    """What `/metrics` exposes, read in one connection."""

    papers: int
    subscribers: dict  # SubscriberStatus -> count
    deliveries: dict  # DeliveryStatus -> count, every kind
    digests: dict  # DeliveryStatus -> count, digests only
    mailbox: dict  # mail event kind -> count
    latencies: list[float]  # seconds from queued to sent, newest sent rows, sorted


def gather_metrics(engine: Engine, *, latency_window: int) -> MetricCounts:
    """Counts for `/metrics`; `latencies` covers the newest `latency_window` sent rows."""
    with engine.connect() as conn:
        return MetricCounts(
            papers=paper_store.count_papers(conn), subscribers=subscriber_store.counts_by_status(conn),
            deliveries=outbox.status_counts(conn), digests=outbox.status_counts(conn, kind=DeliveryKind.DIGEST),
            mailbox=mail_events.counts_by_kind(conn),
            latencies=sorted(max(0.0, (row.sent_at - row.created_at).total_seconds())
                             for row in outbox.recent_sent(conn, latency_window)),
        )


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
