"""Small read queries the web layer needs that the store modules do not offer.

SQLAlchemy Core over `digest.store.tables`; every function takes the caller's Connection
and none writes. The feed "state" queries are index lookups only (no scans), because they
run on every feed request to decide whether the cached bytes are still right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, func, select

from digest.models import Paper
from digest.store.papers import to_paper
from digest.store.tables import deliveries, papers, snapshots


@dataclass(frozen=True, slots=True)
class PaperState:
    """What changes whenever the stored papers change.

    Papers are only ever added or updated by an ingest, and every ingest that changes
    anything first inserts a snapshot row; so (newest snapshot id, newest paper id) moves
    on every change. Both are primary-key maxima: O(log n).
    """

    snapshot_id: int
    paper_id: int


def paper_state(conn: Connection) -> PaperState:
    row = conn.execute(select(select(func.max(snapshots.c.id)).scalar_subquery(),
                              select(func.max(papers.c.id)).scalar_subquery())).one()
    return PaperState(row[0] or 0, row[1] or 0)


def window_start(conn: Connection, since: datetime) -> datetime | None:
    """The first_seen of the oldest paper first seen at or after `since` (None: none).

    Papers only leave a "last N days" window from its old end, and only enter it by an
    ingest (which moves `PaperState`), so this plus PaperState identifies the window's
    contents exactly. One seek on the first_seen index.
    """
    query = select(papers.c.first_seen).where(papers.c.first_seen >= since).order_by(papers.c.first_seen).limit(1)
    return conn.execute(query).scalar()


def papers_since(conn: Connection, since: datetime) -> list[Paper]:
    """Papers first seen at or after `since`, in id order (the ranking's candidates)."""
    query = select(papers).where(papers.c.first_seen >= since).order_by(papers.c.id)
    return [to_paper(row) for row in conn.execute(query)]


def newest_papers(conn: Connection, limit: int) -> list[Paper]:
    """The `limit` most recently stored papers, newest first."""
    return [to_paper(row) for row in conn.execute(select(papers).order_by(papers.c.id.desc()).limit(limit))]


def last_confirmation_at(conn: Connection, subscriber_id: int) -> datetime | None:
    """When the newest confirmation email for this subscriber was queued (None: never)."""
    query = (
        select(deliveries.c.created_at)
        .where(deliveries.c.subscriber_id == subscriber_id, deliveries.c.kind == "confirm")
        .order_by(deliveries.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()  # a typed column (not max()): aware UTC on every backend


def recent_sent(conn: Connection, limit: int) -> list[Row]:
    """(created_at, sent_at) of the newest `limit` sent deliveries."""
    query = (
        select(deliveries.c.created_at, deliveries.c.sent_at)
        .where(deliveries.c.status == "sent", deliveries.c.sent_at.is_not(None))
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))
