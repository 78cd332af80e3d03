"""Reading stored papers for people: `digest papers list`."""

from __future__ import annotations

from datetime import date
from typing import Sequence

from sqlalchemy import Engine

from digest.errors import NotFoundError
from digest.models import Paper, RankedPaper, Subscriber
from digest.store import papers as paper_store

__all__ = ["find_papers", "rank_papers"]


def find_papers(engine: Engine, *, since: date | None = None, limit: int | None = None,
                search: str | None = None) -> list[Paper]:
    """Stored papers, newest first: first seen on or after `since`, whose title or abstract
    contains `search`, at most `limit`. Writes nothing."""
    with engine.connect() as conn:
        return paper_store.list_papers(conn, since=since, limit=limit, search=search)


def rank_papers(engine: Engine, *, query: str = "", liked: Sequence[str] = (), disliked: Sequence[str] = (),
                snapshot: int | None = None, since: date | None = None, limit: int = 10) -> list[RankedPaper]:
    """Rank stored papers for an ad-hoc profile (`digest rank`): a query, liked and disliked
    papers (arXiv ids, DOIs or keys), over one snapshot's papers or those first seen since a
    day (else every listed paper). Writes nothing. Raises QueryError for a bad query and
    NotFoundError naming unknown papers or an unknown snapshot."""
    from digest.jobs.profiles import IDENTIFIER_HINT
    from digest.jobs.relevance import AdHocProfile, RunRanking
    from digest.ranking import build_index, validate_query

    validate_query(query)
    with engine.connect() as conn:
        liked_ids, disliked_ids = _resolve(conn, liked, IDENTIFIER_HINT), _resolve(conn, disliked, IDENTIFIER_HINT)
        if snapshot is not None:
            candidates = paper_store.snapshot_papers(conn, snapshot)
            if candidates is None:
                raise NotFoundError(f"no snapshot {snapshot} (`digest ingest --json` prints each input's snapshot_id)")
            if since is not None:
                candidates = [p for p in candidates if p.first_seen and p.first_seen.date() >= since]
        else:
            candidates = paper_store.list_papers(conn, since=since)
    who = Subscriber(email="rank@localhost", id=0, interests=query, max_papers=limit, cursor=0)
    extra = {0: AdHocProfile(liked_ids, disliked_ids)} if liked_ids or disliked_ids else {}
    ranking = RunRanking(engine, build_index(candidates), load_liked=True)
    return next(ranking.rank([who], snippets=True, extra=extra))[1]


def _resolve(conn, identifiers: Sequence[str], hint: str) -> list[int]:
    from digest.store import paper_ids  # here: `papers list` must start fast (see bench_startup)

    if not identifiers:
        return []
    found, unknown = paper_ids.resolve(conn, identifiers, subscriber_id=None)  # the operator sees every paper
    if unknown:
        raise NotFoundError(f"no stored paper {', '.join(map(repr, unknown))}: {hint}")
    return list(dict.fromkeys(found.values()))
