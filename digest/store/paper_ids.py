"""Papers by the identifiers people write (arXiv id, DOI, our key), and library-only papers.

A subscriber's imported library may name papers no listing has carried. They are stored
with `library_only` set so they shape that subscriber's profile without ever being
delivered as new; when a listing later carries one, `retire_library_copies` and
`rehome_library_votes` let the listed paper take its place (a new row with a new id, so it
reaches everyone as new) and move the votes and nothing else.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import Connection, bindparam, delete, false, func, or_, select, true, update

from digest.diff import normalize_title, strip_version, title_hash
from digest.models import Paper
from digest.sources.fields import find_arxiv_id, normalize_arxiv_id
from digest.store.bulk import insert_rows
from digest.store.papers import chunks
from digest.store.tables import paper_features, paper_votes, papers

__all__ = ["insert_library_papers", "paper_title", "rehome_library_votes", "resolve", "retire_library_copies",
           "visible_to"]

_DOI = re.compile(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.I)


def _where(identifier: str):
    """The condition finding the paper `identifier` names, or None when it names none."""
    text = identifier.strip()
    arxiv_id = normalize_arxiv_id(text) or find_arxiv_id(text)
    if arxiv_id:
        return papers.c.arxiv_id == strip_version(arxiv_id)
    if doi := _DOI.match(text):
        return func.lower(papers.c.doi) == doi.group(1).lower()
    return papers.c.key == text if text else None


def visible_to(subscriber_id: int):
    """The condition on papers a subscriber may see: every listed paper, and of the papers
    only libraries hold, those they voted on (their own library), never another's."""
    own = select(paper_votes.c.paper_id).where(paper_votes.c.subscriber_id == subscriber_id,
                                              paper_votes.c.paper_id == papers.c.id)
    return or_(papers.c.library_only == false(), own.exists())


def resolve(conn: Connection, identifiers: Sequence[str], *,
            subscriber_id: int | None) -> tuple[dict[str, int], list[str]]:
    """(identifier -> paper id for those found, identifiers found nowhere), in input order.
    For a subscriber only papers they may see count (`visible_to`); None: the operator's
    view, every stored paper."""
    found: dict[str, int] = {}
    unknown: list[str] = []
    visible = true() if subscriber_id is None else visible_to(subscriber_id)
    for identifier in identifiers:
        condition = _where(identifier)
        paper_id = conn.execute(select(papers.c.id).where(condition, visible).order_by(papers.c.id)).scalar() \
            if condition is not None else None
        if paper_id is None:
            unknown.append(identifier)
        else:
            found[identifier] = paper_id
    return found, unknown


def paper_title(conn: Connection, paper_id: int, *, subscriber_id: int) -> str | None:
    """The stored title of a paper `subscriber_id` may see (`visible_to`), else None."""
    return conn.execute(select(papers.c.title).where(papers.c.id == paper_id, visible_to(subscriber_id))).scalar()


def insert_library_papers(conn: Connection, new: Sequence[Paper], *, now: datetime) -> dict[str, int]:
    """Store papers known only from a library (keys already assigned); returns key -> id."""
    if not new:
        return {}
    rows = [{
        "key": p.key, "arxiv_id": p.arxiv_id, "doi": p.doi, "title": p.title, "title_hash": title_hash(p.title),
        "abstract": p.abstract, "authors": list(p.authors), "author_count": len(p.authors) or None,
        "organization": None, "published": None, "listing_day": None, "upvotes": None, "links": dict(p.links),
        "categories": [], "first_seen": now, "last_seen": now, "first_snapshot_id": None, "library_only": True,
    } for p in new]
    insert_rows(conn, papers, rows)
    ids: dict[str, int] = {}
    for batch in chunks([p.key for p in new]):
        ids.update(tuple(r) for r in conn.execute(select(papers.c.key, papers.c.id).where(papers.c.key.in_(batch))))
    return ids


def retire_library_copies(conn: Connection, listed: Iterable[Paper]) -> dict[int, str]:
    """Library-only rows that newly listed papers are: their keys are freed for the listed
    copies (renamed `library:<id>`). Returns old id -> the listed paper's key."""
    listed = list(listed)
    by_arxiv = {p.arxiv_id: p.key for p in listed if p.arxiv_id}
    by_doi = {p.doi.lower(): p.key for p in listed if p.doi}
    by_title = {normalize_title(p.title): p.key for p in listed}
    retired: dict[int, str] = {}
    query = select(papers.c.id, papers.c.arxiv_id, papers.c.doi, papers.c.title).where(papers.c.library_only == true())
    for row in conn.execute(query):
        key = by_arxiv.get(row.arxiv_id) or by_doi.get((row.doi or "").lower()) or by_title.get(normalize_title(row.title))
        if key is not None and (row.arxiv_id is None or row.arxiv_id in by_arxiv):
            retired[row.id] = key
    if retired:
        conn.execute(update(papers).where(papers.c.id == bindparam("old")).values(key=bindparam("renamed")),
                     [{"old": old, "renamed": f"library:{old}"} for old in retired])
    return retired


def rehome_library_votes(conn: Connection, retired: dict[int, str]) -> None:
    """Move votes from retired library rows to the listed papers now stored under their keys,
    then delete the retired rows (their features go with them; the listed paper gets its own)."""
    if not retired:
        return
    ids = dict(tuple(r) for r in conn.execute(select(papers.c.key, papers.c.id).where(
        papers.c.key.in_(sorted(set(retired.values()))))))
    for old, key in retired.items():
        new = ids.get(key)
        if new is None:
            continue
        already = select(paper_votes.c.subscriber_id).where(paper_votes.c.paper_id == new)
        conn.execute(update(paper_votes).where(paper_votes.c.paper_id == old,
                                               paper_votes.c.subscriber_id.not_in(already)).values(paper_id=new))
        conn.execute(delete(paper_features).where(paper_features.c.paper_id == old))
        conn.execute(delete(papers).where(papers.c.id == old))


def listed_only():
    """The condition excluding library-only papers (for candidate queries)."""
    return papers.c.library_only == false()
