"""Recent papers, and the index-only reads that tell whether they changed.

Feeds and previews rank "the papers of the last N days"; they are rebuilt only when
`PaperState` or a window's start moves. Papers stored only from a subscriber's imported
library are theirs alone: no window or feed holds them. Every function takes the caller's Connection and
none writes; the state queries are index lookups only (no scans), because they run on
every feed request to decide whether cached bytes are still right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, false, func, select

from digest.models import Paper
from digest.store.papers import to_paper
from digest.store.tables import papers, snapshots


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
    query = (select(papers.c.first_seen).where(papers.c.first_seen >= since, papers.c.library_only == false())
             .order_by(papers.c.first_seen).limit(1))
    return conn.execute(query).scalar()


def first_id_since(conn: Connection, since: datetime) -> int | None:
    """The smallest id of a listed paper first seen at or after `since` (None: none): the
    cursor that narrows an index of a longer window down to this one."""
    query = select(func.min(papers.c.id)).where(papers.c.first_seen >= since, papers.c.library_only == false())
    return conn.execute(query).scalar()


def papers_since(conn: Connection, since: datetime) -> list[Paper]:
    """Papers first seen at or after `since`, in id order (the ranking's candidates)."""
    query = select(papers).where(papers.c.first_seen >= since, papers.c.library_only == false()).order_by(papers.c.id)
    return [to_paper(row) for row in conn.execute(query)]


def newest_papers(conn: Connection, limit: int) -> list[Paper]:
    """The `limit` most recently stored papers, newest first."""
    query = select(papers).where(papers.c.library_only == false()).order_by(papers.c.id.desc()).limit(limit)
    return [to_paper(row) for row in conn.execute(query)]
