"""Rate-limit events (`rate_events`): counted per (bucket, key) over sliding windows.

In the database, not in memory, so a limit holds across web workers, hosts and restarts.
The caller owns the transaction (a write transaction: SQLite's BEGIN IMMEDIATE serialises
writers; on PostgreSQL a transaction-scoped advisory lock per (bucket, key) does), so two
requests racing for the last slot cannot both get it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import Connection, delete, func, insert, select, text

from digest.store.tables import rate_events


def take(conn: Connection, bucket: str, key: str, rules: Sequence[tuple[int, timedelta]], *, now: datetime) -> int | None:
    """Record one event for (bucket, key) unless a rule `(limit, window)` is already full.

    Returns None when the event was recorded (allowed), else the whole seconds until it
    would be. Events older than the longest window are deleted on the way.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"{bucket}|{key}"})
    longest = max(window for _, window in rules)
    same = (rate_events.c.bucket == bucket) & (rate_events.c.key == key)
    conn.execute(delete(rate_events).where(same, rate_events.c.at <= now - longest))
    stamps = sorted(conn.execute(select(rate_events.c.at).where(same)).scalars())
    wait = 0.0
    for limit, window in rules:
        inside = [at for at in stamps if at > now - window]
        if len(inside) >= limit:
            wait = max(wait, (inside[len(inside) - limit] + window - now).total_seconds())
    if wait > 0:
        return max(1, math.ceil(wait))
    conn.execute(insert(rate_events).values(bucket=bucket, key=key, at=now))
    return None


def record(conn: Connection, bucket: str, key: str, *, now: datetime) -> None:
    """Count one event without checking any limit (it still counts against later `take`s)."""
    conn.execute(insert(rate_events).values(bucket=bucket, key=key, at=now))


def prune(conn: Connection, *, before: datetime) -> int:
    """Delete every event older than `before` (keys that are never hit again); returns how many."""
    return conn.execute(delete(rate_events).where(rate_events.c.at < before)).rowcount or 0


def count(conn: Connection, bucket: str | None = None) -> int:
    query = select(func.count()).select_from(rate_events)
    if bucket is not None:
        query = query.where(rate_events.c.bucket == bucket)
    return conn.execute(query).scalar_one()
