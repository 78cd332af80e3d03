"""Stored paper representations (`paper_features`): written at ingest, read by ranking.

The bytes are opaque here: `digest.relevance` encodes and decodes them, and names the
model that made them so rows of an older model can be found and recomputed.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from sqlalchemy import Connection, delete, func, select

from digest.store.bulk import insert_rows
from digest.store.papers import chunks
from digest.store.tables import paper_features, papers

__all__ = ["features_of", "missing", "missing_among_first", "save_features", "stale_count"]


def save_features(conn: Connection, rows: Mapping[int, bytes], *, model: str) -> None:
    """Store (replacing) the features of these papers, made by `model`."""
    ids = sorted(rows)
    for batch in chunks(ids):
        conn.execute(delete(paper_features).where(paper_features.c.paper_id.in_(batch)))
    insert_rows(conn, paper_features, [{"paper_id": pid, "model": model, "data": rows[pid]} for pid in ids])


def features_of(conn: Connection, paper_ids: Iterable[int], *, model: str) -> dict[int, bytes]:
    """paper id -> stored bytes of `model` (papers without current features are absent)."""
    found: dict[int, bytes] = {}
    for batch in chunks(sorted(set(paper_ids)), 2000):
        query = select(paper_features.c.paper_id, paper_features.c.data).where(
            paper_features.c.paper_id.in_(batch), paper_features.c.model == model)
        found.update((pid, bytes(data)) for pid, data in conn.execute(query))
    return found


def missing(conn: Connection, *, model: str, after_id: int = 0, limit: int = 1000) -> list[int]:
    """Ids of papers (above `after_id`, ascending) with no features of `model`: what reindex does."""
    current = select(paper_features.c.paper_id).where(paper_features.c.model == model)
    query = (select(papers.c.id).where(papers.c.id > after_id, papers.c.id.not_in(current))
             .order_by(papers.c.id).limit(limit))
    return list(conn.execute(query).scalars())


def missing_among_first(conn: Connection, *, model: str, count: int) -> list[int]:
    """Ids among the `count` oldest papers that have no features of `model` (the background's)."""
    first = select(papers.c.id).order_by(papers.c.id).limit(count).subquery()
    current = select(paper_features.c.paper_id).where(paper_features.c.model == model)
    query = select(first.c.id).where(first.c.id.not_in(current)).order_by(first.c.id)
    return list(conn.execute(query).scalars())


def stale_count(conn: Connection, *, model: str) -> int:
    """How many papers lack features of `model` (for `db status` and the reindex progress bar)."""
    current = select(paper_features.c.paper_id).where(paper_features.c.model == model)
    return conn.execute(select(func.count()).select_from(papers).where(papers.c.id.not_in(current))).scalar_one()
