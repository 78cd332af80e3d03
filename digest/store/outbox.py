"""The outbox: delivery rows planned, claimed under a lease, and marked sent or failed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from digest.store.tables import deliveries


def queue_confirmation(conn: Connection, subscriber_id: int, *, now: datetime) -> None:
    """Queue a double opt-in email; each request is its own row (period = request time)."""
    conn.execute(
        insert(deliveries),
        {
            "subscriber_id": subscriber_id,
            "kind": "confirm",
            "period": now.isoformat(timespec="microseconds"),
            "status": "queued",
            "items": [],
            "paper_count": 0,
            "cursor_to": 0,
            "attempts": 0,
            "next_attempt_at": now,
            "maybe_delivered": 0,
            "created_at": now,
        },
    )
