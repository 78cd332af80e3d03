"""Reads of subscribers for the entry points: one row, a listing, the schedule as words.

Entry points read through jobs, never the store (the import-linter contract "Entry points use
jobs, not the store"); these are the reads the CLI and the web pages need.
"""

from __future__ import annotations

from sqlalchemy import Engine, Row

from digest.compose import describe_schedule
from digest.store import subscribers as subscriber_store

__all__ = ["find_subscriber", "list_subscribers", "schedule_text", "subscriber_by_id"]


def find_subscriber(engine: Engine, email: str) -> Row:
    """The subscriber with this address; NotFound (one line naming it) when there is none."""
    with engine.connect() as conn:
        return subscriber_store.get(conn, email)


def subscriber_by_id(engine: Engine, subscriber_id: int) -> Row | None:
    with engine.connect() as conn:
        return subscriber_store.by_id(conn, subscriber_id)


def list_subscribers(engine: Engine, *, status: str | None = None, search: str | None = None,
                     limit: int | None = None) -> list[Row]:
    """Subscribers in the store's listing order, filtered by status and a search text."""
    with engine.connect() as conn:
        return subscriber_store.listing(conn, status=status, search=search, limit=limit)


def schedule_text(row: Row) -> str:
    """When this subscriber gets mail, in words ("daily at 07:00 Europe/Berlin")."""
    return describe_schedule(subscriber_store.to_subscriber(row))
