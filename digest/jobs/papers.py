"""Reading stored papers for people: `digest papers list`."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from digest.models import Paper
from digest.store import papers as paper_store

__all__ = ["find_papers"]


def find_papers(engine: Engine, *, since: date | None = None, limit: int | None = None,
                search: str | None = None) -> list[Paper]:
    """Stored papers, newest first: first seen on or after `since`, whose title or abstract
    contains `search`, at most `limit`. Writes nothing."""
    with engine.connect() as conn:
        return paper_store.list_papers(conn, since=since, limit=limit, search=search)
