"""Likes and dislikes (`paper_votes`) and the fitted profile models they produce.

Batch reads and writes over the caller's Connection (none commits). A vote is one row per
(subscriber, paper): voting again replaces the earlier vote, so a like can become a
dislike and the profile always reflects the latest judgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import Connection, delete, func, select

from digest.enums import Vote, VoteOrigin
from digest.store.bulk import insert_rows
from digest.store.papers import chunks
from digest.store.tables import paper_votes, papers, profile_models

__all__ = ["StoredModel", "VotedPaper", "any_likes", "anyone_likes", "forget", "labels", "labels_of_many",
           "models_of", "save_model", "set_votes", "state", "voted_papers"]


@dataclass(frozen=True, slots=True)
class VotedPaper:
    """A paper a subscriber judged, as `subscribers show` and the manage page list it."""

    paper_id: int
    key: str
    arxiv_id: str | None
    title: str
    vote: Vote
    origin: VoteOrigin
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredModel:
    labels_digest: str
    model: str
    data: bytes


def set_votes(conn: Connection, subscriber_id: int, paper_ids: Sequence[int], vote: Vote, *, origin: VoteOrigin,
              now: datetime) -> int:
    """Record `vote` on each paper (replacing an earlier vote); returns how many changed."""
    wanted = list(dict.fromkeys(paper_ids))
    if not wanted:
        return 0
    current = {pid: v for pid, v in _current(conn, subscriber_id, wanted)}
    changing = [pid for pid in wanted if current.get(pid) != int(vote)]
    if changing:
        forget(conn, subscriber_id, changing)
        insert_rows(conn, paper_votes, [
            {"subscriber_id": subscriber_id, "paper_id": pid, "vote": int(vote), "origin": str(origin),
             "created_at": now} for pid in changing])
    return len(changing)


def _current(conn: Connection, subscriber_id: int, paper_ids: Sequence[int]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for batch in chunks(paper_ids):
        query = select(paper_votes.c.paper_id, paper_votes.c.vote).where(
            paper_votes.c.subscriber_id == subscriber_id, paper_votes.c.paper_id.in_(batch))
        found.extend(tuple(row) for row in conn.execute(query))
    return found


def forget(conn: Connection, subscriber_id: int, paper_ids: Sequence[int]) -> int:
    """Remove the subscriber's votes on these papers (unlike / undislike); returns how many."""
    removed = 0
    for batch in chunks(list(paper_ids)):
        removed += conn.execute(delete(paper_votes).where(
            paper_votes.c.subscriber_id == subscriber_id, paper_votes.c.paper_id.in_(batch))).rowcount
    return removed


def voted_papers(conn: Connection, subscriber_id: int, *, vote: Vote | None = None) -> list[VotedPaper]:
    """The subscriber's judged papers, newest judgement first."""
    query = (select(paper_votes.c.paper_id, papers.c.key, papers.c.arxiv_id, papers.c.title, paper_votes.c.vote,
                    paper_votes.c.origin, paper_votes.c.created_at)
             .join(papers, papers.c.id == paper_votes.c.paper_id)
             .where(paper_votes.c.subscriber_id == subscriber_id)
             .order_by(paper_votes.c.created_at.desc(), paper_votes.c.paper_id.desc()))
    if vote is not None:
        query = query.where(paper_votes.c.vote == int(vote))
    return [VotedPaper(r.paper_id, r.key, r.arxiv_id, r.title, Vote(r.vote), VoteOrigin(r.origin), r.created_at)
            for r in conn.execute(query)]


def labels(conn: Connection, subscriber_id: int) -> dict[int, Vote]:
    """paper id -> vote for one subscriber."""
    return labels_of_many(conn, [subscriber_id]).get(subscriber_id, {})


def labels_of_many(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, dict[int, Vote]]:
    """subscriber id -> {paper id -> vote}, for a batch of subscribers (one query per chunk)."""
    found: dict[int, dict[int, Vote]] = {}
    for batch in chunks(sorted(set(subscriber_ids))):
        query = select(paper_votes.c.subscriber_id, paper_votes.c.paper_id, paper_votes.c.vote).where(
            paper_votes.c.subscriber_id.in_(batch))
        for sid, pid, vote in conn.execute(query):
            found.setdefault(sid, {})[pid] = Vote(vote)
    return found


def anyone_likes(conn: Connection) -> bool:
    """Whether any subscriber has liked any paper (if not, relevance work can wait)."""
    return conn.execute(select(paper_votes.c.paper_id).where(paper_votes.c.vote == int(Vote.LIKE)).limit(1)).first() \
        is not None


def any_likes(conn: Connection, subscriber_ids: Iterable[int]) -> bool:
    """Whether any of these subscribers has liked a paper (most runs: nobody has, skip relevance)."""
    for batch in chunks(sorted(set(subscriber_ids))):
        query = select(paper_votes.c.subscriber_id).where(
            paper_votes.c.subscriber_id.in_(batch), paper_votes.c.vote == int(Vote.LIKE)).limit(1)
        if conn.execute(query).first() is not None:
            return True
    return False


def state(conn: Connection, subscriber_id: int) -> tuple[int, datetime | None]:
    """(how many votes, the newest one's time): changes whenever the subscriber's votes do."""
    query = select(func.count(), func.max(paper_votes.c.created_at)).where(paper_votes.c.subscriber_id == subscriber_id)
    count, newest = conn.execute(query).one()
    return count, newest


def models_of(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, StoredModel]:
    """The stored fitted models of a batch of subscribers."""
    found: dict[int, StoredModel] = {}
    for batch in chunks(sorted(set(subscriber_ids))):
        query = select(profile_models).where(profile_models.c.subscriber_id.in_(batch))
        for row in conn.execute(query):
            found[row.subscriber_id] = StoredModel(row.labels_digest, row.model, bytes(row.data))
    return found


def save_model(conn: Connection, subscriber_id: int, stored: StoredModel, *, now: datetime) -> None:
    """Replace a subscriber's fitted model."""
    conn.execute(delete(profile_models).where(profile_models.c.subscriber_id == subscriber_id))
    insert_rows(conn, profile_models, [{"subscriber_id": subscriber_id, "labels_digest": stored.labels_digest,
                                        "model": stored.model, "data": stored.data, "fitted_at": now}])
