"""Papers, snapshots and sightings: batch reads and writes over a Connection.

Every function takes the caller's Connection so a whole snapshot is one transaction; none
commits. Reads are chunked IN queries (one query per ~500 keys, never one per paper).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from itertools import islice
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Row, Text, bindparam, false, func, insert, or_, select, type_coerce, update

from digest.diff import KnownPapers, SnapshotDiff, clean, title_hash
from digest.models import Paper, ParsedSnapshot
from digest.store.bulk import execute_rows, insert_rows
from digest.store.tables import papers, sightings, snapshots

CHUNK = 500
_PAPER_FIELDS = (
    "arxiv_id", "doi", "title", "abstract", "authors", "author_count", "organization",
    "published", "listing_day", "upvotes", "links", "categories",
)


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def to_paper(row: Row) -> Paper:
    """A stored row as a Paper."""
    return Paper(
        id=row.id,
        key=row.key,
        arxiv_id=row.arxiv_id,
        doi=row.doi,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors or ()),
        author_count=row.author_count,
        organization=row.organization,
        published=row.published,
        listing_day=row.listing_day,
        upvotes=row.upvotes,
        links=dict(row.links or {}),
        categories=tuple(row.categories or ()),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )


def _column_value(name: str, value: object) -> object:
    return list(value) if name in ("authors", "categories") else value


def _new_row(paper: Paper, snapshot_id: int, now: datetime) -> dict:
    row = {name: _column_value(name, getattr(paper, name)) for name in _PAPER_FIELDS}
    row.update(
        key=paper.key,
        title_hash=title_hash(paper.title),
        first_seen=now,
        last_seen=now,
        first_snapshot_id=snapshot_id,
    )
    return row


# What the diff needs of a stored paper; JSON read as text and decoded here (see _json).
_KNOWN = [
    papers.c.id, papers.c.key, papers.c.arxiv_id, papers.c.doi, papers.c.title, papers.c.abstract,
    type_coerce(papers.c.authors, Text), papers.c.author_count, papers.c.organization, papers.c.published,
    papers.c.listing_day, papers.c.upvotes, type_coerce(papers.c.links, Text), type_coerce(papers.c.categories, Text),
]


def _json(value: object, empty: object) -> object:
    # Most stored lists and maps are empty: skip the decoder for them (a 100k-paper diff
    # would otherwise spend a second in json.loads).
    if not isinstance(value, str):
        return value if value is not None else empty
    return empty if value in ("[]", "{}", "null") else json.loads(value)


def _known_paper(row: Row) -> Paper:
    (id_, key, arxiv_id, doi, title, abstract, authors, author_count, organization, published,
     listing_day, upvotes, links, categories) = row
    return Paper(
        id=id_, key=key, arxiv_id=arxiv_id, doi=doi, title=title, abstract=abstract,
        authors=tuple(_json(authors, ())), author_count=author_count, organization=organization,
        published=published, listing_day=listing_day, upvotes=upvotes, links=dict(_json(links, {})),
        categories=tuple(_json(categories, ())),
    )


def load_known(conn: Connection, incoming: Iterable[Paper], *, include_library: bool = False) -> KnownPapers:
    """Stored papers that share an arXiv id, DOI or normalised title with `incoming`.

    Papers known only from a subscriber's library are left out unless `include_library`:
    a listing that carries one brings it as new (see store.paper_ids).
    """
    arxiv_ids, dois, titles = set(), set(), set()
    for paper in map(clean, incoming):
        if paper.arxiv_id:
            arxiv_ids.add(paper.arxiv_id)
        if paper.doi:
            dois.add(paper.doi.lower())
        titles.add(title_hash(paper.title))
    found: dict[int, Paper] = {}
    for column, values in ((papers.c.arxiv_id, arxiv_ids), (papers.c.doi, dois), (papers.c.title_hash, titles)):
        for batch in chunks(sorted(values), 5000):
            query = select(*_KNOWN).where(column.in_(batch))
            if not include_library:
                query = query.where(papers.c.library_only == false())
            for row in conn.execute(query).all():
                if row[0] not in found:
                    found[row[0]] = _known_paper(row)
    return KnownPapers.of(found[i] for i in sorted(found))


def find_snapshot(conn: Connection, sha256: str) -> Row | None:
    return conn.execute(select(snapshots).where(snapshots.c.sha256 == sha256)).first()


def save_snapshot(
    conn: Connection,
    *,
    parsed: ParsedSnapshot,
    diff: SnapshotDiff,
    input: str,
    sha256: str,
    now: datetime,
    source_id: int | None = None,
) -> int:
    """Write one diffed snapshot: its row, new papers, updates and sightings. Returns its id."""
    snapshot_id = conn.execute(
        insert(snapshots).returning(snapshots.c.id),
        {
            "source_id": source_id,
            "input": input,
            "format": parsed.format,
            "sha256": sha256,
            "listing_day": parsed.listing_day,
            "paper_count": len(diff.sightings),
            "new_count": len(diff.new),
            "updated_count": len(diff.updated),
            "unchanged_count": len(diff.unchanged),
            "warnings": list(parsed.warnings),
            "ingested_at": now,
        },
    ).scalar_one()
    ids = _insert_new(conn, diff.new, snapshot_id, now) | diff.stored_ids
    _apply_updates(conn, diff.updated, now)
    _insert_sightings(conn, snapshot_id, diff, ids)
    if diff.stored_ids:
        _touch_sighted(conn, snapshot_id, now)
    return snapshot_id


def _insert_new(conn: Connection, new: list[Paper], snapshot_id: int, now: datetime) -> dict[str, int]:
    if not new:
        return {}
    insert_rows(conn, papers, [_new_row(paper, snapshot_id, now) for paper in new])
    ids: dict[str, int] = {}
    for batch in chunks([paper.key for paper in new]):
        ids.update(tuple(row) for row in conn.execute(select(papers.c.key, papers.c.id).where(papers.c.key.in_(batch))))
    return ids


def _apply_updates(conn: Connection, updated: dict[int, dict[str, object]], now: datetime) -> None:
    """One executemany per set of changed columns (papers change in few distinct ways)."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for paper_id, found in updated.items():
        if "title" in found:
            found = {**found, "title_hash": title_hash(str(found["title"]))}
        columns = tuple(sorted(found))
        row = {f"v_{name}": _column_value(name, found[name]) for name in columns}
        row.update(p_id=paper_id, v_updated_at=now)
        groups.setdefault(columns, []).append(row)
    for columns, rows in groups.items():
        names = columns + ("updated_at",)
        statement = update(papers).where(papers.c.id == bindparam("p_id")).values(
            {name: bindparam(f"v_{name}") for name in names}
        )
        types = {f"v_{name}": papers.c[name].type for name in names} | {"p_id": papers.c.id.type}
        execute_rows(conn, statement, rows, types)


def _touch_sighted(conn: Connection, snapshot_id: int, now: datetime) -> None:
    """last_seen = now for every paper in the snapshot, in one statement."""
    sighted = select(sightings.c.paper_id).where(sightings.c.snapshot_id == snapshot_id)
    conn.execute(update(papers).where(papers.c.id.in_(sighted)).values(last_seen=now))


def _insert_sightings(conn: Connection, snapshot_id: int, diff: SnapshotDiff, ids: dict[str, int]) -> None:
    rows = [
        {"snapshot_id": snapshot_id, "paper_id": ids[key], "position": position, "upvotes": upvotes}
        for position, (key, upvotes) in enumerate(diff.sightings)
    ]
    insert_rows(conn, sightings, rows)


def list_papers(
    conn: Connection, *, since: date | None = None, limit: int | None = None, search: str | None = None
) -> list[Paper]:
    """Listed papers, newest first; `since` filters on first-seen day, `search` on title/abstract."""
    query = select(papers).where(papers.c.library_only == false()).order_by(papers.c.id.desc())
    if since is not None:
        query = query.where(papers.c.first_seen >= datetime.combine(since, time.min, timezone.utc))
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(or_(papers.c.title.ilike(pattern), papers.c.abstract.ilike(pattern)))
    if limit is not None:
        query = query.limit(limit)
    return [to_paper(row) for row in conn.execute(query)]


def papers_after(conn: Connection, after_id: int, *, limit: int | None = None) -> list[Paper]:
    """Listed papers first seen after the paper with id `after_id`, oldest first (digest candidates)."""
    query = select(papers).where(papers.c.id > after_id, papers.c.library_only == false()).order_by(papers.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [to_paper(row) for row in conn.execute(query)]


def snapshot_papers(conn: Connection, snapshot_id: int) -> list[Paper] | None:
    """The papers one stored snapshot listed, in listing order; None when there is no such snapshot."""
    if conn.execute(select(snapshots.c.id).where(snapshots.c.id == snapshot_id)).first() is None:
        return None
    query = (select(papers).join(sightings, sightings.c.paper_id == papers.c.id)
             .where(sightings.c.snapshot_id == snapshot_id).order_by(sightings.c.position))
    return [to_paper(row) for row in conn.execute(query)]


def key_ids(conn: Connection, keys: Sequence[str]) -> list[int]:
    """The ids of the papers with these keys (unknown keys are skipped)."""
    found: list[int] = []
    for batch in chunks(list(keys)):
        found.extend(conn.execute(select(papers.c.id).where(papers.c.key.in_(batch))).scalars())
    return found


def count_papers(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(papers)).scalar_one()


def papers_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, Paper]:
    """id -> Paper for the given ids (one query per chunk)."""
    found: dict[int, Paper] = {}
    for batch in chunks(sorted(set(ids))):
        found.update((row.id, to_paper(row)) for row in conn.execute(_PAPERS_BY_ID, {"ids": batch}))
    return found


# Built once, the ids bound per call: building select(...).in_(batch) per call cost
# ~0.1 ms of CPU (64 ids on SQLite: 0.68-0.71 -> 0.58-0.59 ms a call), once for each
# claimed batch the sender reads new papers for.
_PAPERS_BY_ID = select(papers).where(papers.c.id.in_(bindparam("ids", expanding=True)))


def max_paper_id(conn: Connection) -> int:
    return conn.execute(select(func.max(papers.c.id))).scalar() or 0


def first_id_since(conn: Connection, moment: datetime) -> int:
    """The id of the last paper first seen before `moment` (0 if none)."""
    return conn.execute(select(func.max(papers.c.id)).where(papers.c.first_seen < moment)).scalar() or 0
