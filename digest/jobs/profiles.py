"""A subscriber's profile: the papers they like and dislike, from the CLI, links and libraries.

Every change is one transaction and checked before anything is written: an identifier
that names no stored paper fails the whole call, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from digest.diff import KnownPapers, dedupe, diff_snapshot
from digest.enums import Vote, VoteOrigin
from digest.errors import NotFoundError
from digest.jobs import relevance
from digest.jobs.common import utcnow
from digest.models import Paper
from digest.sources.library import LibraryEntry, LibraryProblem, ParsedLibrary, parse_library
from digest.store import paper_ids, votes
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.papers import load_known

__all__ = ["LibraryPlan", "VoteReport", "apply_library", "paper_for_feedback", "plan_library", "vote_on", "vote_papers",
           "vote_papers_of", "voted", "voted_by_id"]

IDENTIFIER_HINT = "use an arXiv id (2607.01234), a DOI (10.1145/...) or a key shown by `digest papers list`"


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteReport:
    """What a like / dislike / unlike did: the papers named and how many votes changed."""

    email: str
    vote: Vote | None  # None: the votes were removed
    paper_ids: dict[str, int]
    changed: int


def vote_papers(engine: Engine, email: str, identifiers: list[str], vote: Vote | None, *,
                origin: VoteOrigin = VoteOrigin.CLI, now: datetime | None = None) -> VoteReport:
    """Like (Vote.LIKE), dislike (Vote.DISLIKE) or forget (None) papers for a subscriber.

    Raises NotFoundError naming the subscriber or every identifier that names no paper;
    nothing is written then.
    """
    with engine.connect() as conn:
        subscriber = subscriber_store.get(conn, email)
    return vote_papers_of(engine, subscriber.id, identifiers, vote, origin=origin, now=now)


def vote_papers_of(engine: Engine, subscriber_id: int, identifiers: list[str], vote: Vote | None, *,
                   origin: VoteOrigin, now: datetime | None = None) -> VoteReport:
    """`vote_papers` for a subscriber already identified (the manage page)."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        subscriber = subscriber_store.by_id(conn, subscriber_id)
        if subscriber is None:
            raise NotFoundError("this subscription no longer exists")
        # Papers only another subscriber's library holds are not theirs to find (nor to probe for).
        found, unknown = paper_ids.resolve(conn, identifiers, subscriber_id=subscriber.id)
        if unknown:
            raise NotFoundError(f"no stored paper {', '.join(map(repr, unknown))}: {IDENTIFIER_HINT}; nothing changed")
        ids = list(dict.fromkeys(found.values()))
        if vote is None:
            changed = votes.forget(conn, subscriber.id, ids)
        else:
            changed = votes.set_votes(conn, subscriber.id, ids, vote, origin=origin, now=now)
    if changed:
        relevance.refresh_profiles(engine, [subscriber.id])  # fitted now, not during the next run
    return VoteReport(email=subscriber.email, vote=vote, paper_ids=found, changed=changed)


def vote_on(engine: Engine, subscriber_id: int, paper_id: int, vote: Vote | None, *, origin: VoteOrigin,
            now: datetime | None = None) -> bool:
    """One vote by a subscriber already identified (a signed link, the manage page); True when
    it changed something. Raises NotFoundError when the paper is not stored, or is one only
    another subscriber's library holds."""
    with write_transaction(engine) as conn:
        if paper_ids.paper_title(conn, paper_id, subscriber_id=subscriber_id) is None:
            raise NotFoundError(f"no stored paper with id {paper_id}")
        if vote is None:
            changed = votes.forget(conn, subscriber_id, [paper_id]) > 0
        else:
            changed = votes.set_votes(conn, subscriber_id, [paper_id], vote, origin=origin, now=now or utcnow()) > 0
    if changed:
        relevance.refresh_profiles(engine, [subscriber_id])
    return changed


def voted_by_id(engine: Engine, subscriber_id: int) -> list[votes.VotedPaper]:
    """A subscriber's liked and disliked papers, newest first."""
    with engine.connect() as conn:
        return votes.voted_papers(conn, subscriber_id)


def voted(engine: Engine, email: str) -> list[votes.VotedPaper]:
    """The subscriber's liked and disliked papers, newest first."""
    with engine.connect() as conn:
        return votes.voted_papers(conn, subscriber_store.get(conn, email).id)


@dataclass(slots=True, kw_only=True)
class LibraryPlan:
    """What importing a library would do; `problems` non-empty means it will not be applied."""

    email: str
    subscriber_id: int
    parsed: ParsedLibrary
    matched: list[tuple[LibraryEntry, int]] = field(default_factory=list)  # (entry, stored paper id)
    new: list[LibraryEntry] = field(default_factory=list)  # stored from the file's own text
    already_liked: int = 0

    @property
    def problems(self) -> list[LibraryProblem]:
        return self.parsed.problems

    def as_dict(self) -> dict:
        return {"email": self.email, "format": str(self.parsed.format), "entries": len(self.parsed.entries),
                "matched": len(self.matched), "new": len(self.new), "already_liked": self.already_liked,
                "problems": [str(p) for p in self.problems]}


def plan_library(engine: Engine, email: str, data: bytes, *, name: str) -> LibraryPlan:
    """Read a library export and match its entries (arXiv id, then DOI, then title); writes nothing.

    Raises SnapshotError when the file is no library, NotFoundError for an unknown subscriber.
    """
    parsed = parse_library(data, name=name)
    with engine.connect() as conn:
        subscriber = subscriber_store.get(conn, email)
        known = load_known(conn, [entry.paper for entry in parsed.entries], include_library=True)
        liked = votes.labels(conn, subscriber.id)
    plan = LibraryPlan(email=subscriber.email, subscriber_id=subscriber.id, parsed=parsed)
    seen: set[int] = set()
    for entry in parsed.entries:
        stored = known.find(entry.paper)
        if stored is None:
            plan.new.append(entry)
        elif stored.id not in seen:
            seen.add(stored.id)
            plan.matched.append((entry, stored.id))
            plan.already_liked += liked.get(stored.id) == Vote.LIKE
    return plan


def apply_library(engine: Engine, plan: LibraryPlan, *, now: datetime | None = None) -> list[int]:
    """Like every matched paper and store and like every new one, in one transaction.

    Returns the ids of the papers stored from the file (their features still to compute).
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        fresh = _unique_new([entry.paper for entry in plan.new], load_known(conn, [e.paper for e in plan.new], include_library=True))
        stored = paper_ids.insert_library_papers(conn, fresh, now=now)
        liked = [paper_id for _, paper_id in plan.matched] + list(stored.values())
        votes.set_votes(conn, plan.subscriber_id, liked, Vote.LIKE, origin=VoteOrigin.LIBRARY, now=now)
    relevance.refresh_profiles(engine, [plan.subscriber_id])
    return list(stored.values())


def _unique_new(new: list[Paper], known: KnownPapers) -> list[Paper]:
    """Library papers to store, deduplicated and keyed like listed ones (arXiv id > DOI > title)."""
    return diff_snapshot(dedupe(new), known).new


def paper_for_feedback(engine: Engine, paper_id: int, *, subscriber_id: int) -> Paper | None:
    """The stored paper a subscriber's feedback link names, or None: also None for a paper
    only another subscriber's library holds (its title is theirs)."""
    from digest.store.papers import papers_by_id

    with engine.connect() as conn:
        if paper_ids.paper_title(conn, paper_id, subscriber_id=subscriber_id) is None:
            return None
        return papers_by_id(conn, [paper_id]).get(paper_id)
