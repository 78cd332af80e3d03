"""The sign-up queue (`signup_requests`): rows written by `POST /subscribe`, applied later.

The caller owns the transaction. `claim` locks the rows it returns (FOR UPDATE on
PostgreSQL; SQLite's single writer does the same), so two workers never apply one twice.
Not SKIP LOCKED: a second worker waits for the first to commit, so when `claim` comes back
empty everything queued before it has been applied (sign-ups are few; waiting is cheap).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from digest.store.tables import signup_requests


def queue(conn: Connection, fields: dict[str, Any], *, now: datetime) -> None:
    conn.execute(insert(signup_requests).values(fields=fields, created_at=now))


def claim(conn: Connection, limit: int) -> list[Row]:
    """The oldest `limit` requests, locked until the transaction ends."""
    query = select(signup_requests).order_by(signup_requests.c.id).limit(limit).with_for_update()
    return list(conn.execute(query))


def remove(conn: Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(delete(signup_requests).where(signup_requests.c.id.in_(ids)))


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(signup_requests)).scalar_one()
