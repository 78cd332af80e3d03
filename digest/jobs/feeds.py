"""Feeds: what each holds, decided before it is built, for the web app and `digest feed`.

Feeds (all at most FEED_LIMIT = 50 entries; GUIDs are paper keys, see `digest.feeds`):

* papers: the papers stored most recently, newest first.
* search: a query ranked over the papers first seen in the last `days` days (1..30,
  default 7), best first. A bad query raises QueryError.
* subscriber: the subscriber's interests (and min_score) ranked over the papers first
  seen in the last 7 days, best first, holding about what their emails of those 7 days
  could: `max_papers` per digest times 7 digests (daily) or 1 (weekly), capped at 50.
  The digest cursor is not used: a feed is a rolling window and readers drop entries
  they already have by GUID. Unsubscribed subscribers have no feed.

A `FeedPlan` carries a `key` that changes whenever the feed's bytes would (new or
updated papers, the window moving past a paper, the subscriber changing), computed with
index lookups only, so the web layer can serve cached bytes without building anything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable, Sequence, TypeVar
from urllib.parse import urlencode

from cachetools import LRUCache
from sqlalchemy import Connection, Engine

from digest.enums import Frequency, SubscriberStatus
from digest.errors import NotFoundError, QueryError
from digest.feeds import FeedInfo, build_feed
from digest.jobs.common import utcnow
from digest.models import Paper, RankedPaper
from digest.jobs.relevance import RunRanking
from digest.links import feedback_url
from digest.ranking import PaperIndex, build_index, rank, validate_query
from digest.store import subscribers as subscriber_store
from digest.store import votes as vote_store
from digest.store import windows
from digest.store.windows import PaperState
from digest.tokens import Keys

FEED_LIMIT = 50
DEFAULT_DAYS = 7
MAX_DAYS = 30
SITE = "Paper Digest"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Window:
    """The papers first seen in the last `days` days, as of `since` = now - days."""

    days: int
    since: datetime
    start: datetime | None  # first_seen of the oldest paper inside (None: empty)
    state: PaperState

    @property
    def key(self) -> tuple:
        """Equal keys mean equal contents, whatever `since` was (see windows.window_start)."""
        return (self.days, self.start, self.state)


def open_window(conn: Connection, days: int, now: datetime) -> Window:
    since = now - timedelta(days=days)
    return Window(days, since, windows.window_start(conn, since), windows.paper_state(conn))


class IndexCache:
    """Ranking indexes over recent windows, shared by every ranked feed and preview.

    Building an index costs ~10-100 ms, ranking on a built one well under 1 ms, so one
    index per window serves every subscriber and search until papers change. PaperIndex
    is not thread-safe and requests run in a thread pool: every use holds the lock.
    """

    def __init__(self, size: int = 4):
        self._indexes: LRUCache[tuple, PaperIndex] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def use(self, conn: Connection, window: Window, work: Callable[[PaperIndex], T]) -> T:
        """`work(index)` on the index of `window`'s papers, built (from `conn`) if needed."""
        with self._lock:
            index = self._indexes.get(window.key)
            if index is None:
                index = self._indexes[window.key] = build_index(windows.papers_since(conn, window.since))
            return work(index)


Items = Sequence[Paper | RankedPaper]


@dataclass(frozen=True)
class FeedPlan:
    """A feed before it is built. `load(conn)` reads and ranks its entries."""

    key: tuple
    info: FeedInfo
    load: Callable[[Connection], Items]


def _info(title: str, base_url: str, self_url: str, description: str) -> FeedInfo:
    return FeedInfo(title=title, link=f"{base_url}/", self_url=self_url, description=description)


def papers_plan(conn: Connection, *, base_url: str, self_url: str) -> FeedPlan:
    """The newest stored papers, newest first."""
    info = _info(f"{SITE}: new papers", base_url, self_url, "The newest research papers, newest first")
    return FeedPlan(("papers", windows.paper_state(conn), self_url), info,
                    lambda c: windows.newest_papers(c, FEED_LIMIT))


def search_plan(conn: Connection, indexes: IndexCache, *, query: str, days: int, now: datetime,
                base_url: str, self_url: str) -> FeedPlan:
    """`query` over the last `days` days, best first. Raises QueryError for a bad query."""
    canonical = validate_query(query)
    days = clamp_days(days)
    window = open_window(conn, days, now)
    label = " ".join(query.split()) or "top papers"
    info = _info(f"{SITE}: {label}", base_url, self_url, f"Papers of the last {days} days matching {label}")

    def load(c: Connection) -> Items:
        # Every `days` shares the index of the longest window, narrowed by an id cursor: an
        # index per `days` let anyone cycling days=1..30 force a rebuild on every request.
        first = windows.first_id_since(c, window.since)
        if first is None:
            return []
        widest = open_window(c, MAX_DAYS, now)
        found = indexes.use(c, widest, lambda index: rank(index, canonical, limit=FEED_LIMIT, after_id=first - 1))
        # Ids follow first_seen but two ingests at once may interleave them: the window decides.
        return [r for r in found if r.paper.first_seen is None or r.paper.first_seen >= window.since]

    return FeedPlan(("search", canonical, window.key, self_url), info, load)


def subscriber_plan(conn: Connection, indexes: IndexCache, *, feed_token: str, now: datetime,
                    base_url: str, self_url: str, keys: Keys | None = None) -> FeedPlan | None:
    """A subscriber's ranked papers (by their likes too, as in their digests); None for an
    unknown token or an unsubscribed subscriber. With signing `keys`, each entry carries the
    subscriber's "more / less like this" links."""
    row = subscriber_store.by_token(conn, feed_token)
    if row is None or row.status == SubscriberStatus.UNSUBSCRIBED:
        return None
    subscriber = subscriber_store.to_subscriber(row)
    per_week = 7 if subscriber.frequency == Frequency.DAILY else 1
    subscriber = replace(subscriber, cursor=0, max_papers=min(FEED_LIMIT, subscriber.max_papers * per_week))
    window = open_window(conn, DEFAULT_DAYS, now)
    # Not the subscriber's query: feed URLs end up in shared reader lists and aggregators.
    info = replace(_info(f"{SITE}: your papers", base_url, self_url,
                         f"Your papers of the last {DEFAULT_DAYS} days, best first"),
                   feedback_url=feedback_url(base_url, keys, row) if keys else "")

    def load(c: Connection) -> Items:
        def ranked(index: PaperIndex) -> list[RankedPaper]:
            return next(RunRanking(c.engine, index, load_liked=True).rank([subscriber], snippets=True))[1]

        return indexes.use(c, window, ranked)

    votes = vote_store.state(conn, row.id)  # a like changes the feed as much as a new query would
    return FeedPlan(("subscriber", feed_token, row.updated_at, row.status, votes, window.key, self_url), info, load)


def preview(conn: Connection, indexes: IndexCache, interests: str, *, now: datetime, limit: int = 10) -> list[RankedPaper]:
    """What `interests` would have matched in the last 7 days, best first ([] if it does not parse)."""
    try:
        canonical = validate_query(interests)
    except QueryError:  # a stored query that no longer parses matches nothing
        return []
    window = open_window(conn, DEFAULT_DAYS, now)
    return indexes.use(conn, window, lambda index: rank(index, canonical, limit=limit))


def clamp_days(days: int) -> int:
    """`days` limited to 1..MAX_DAYS (a month of papers is the most one feed ranks)."""
    return max(1, min(MAX_DAYS, days))


def feed_bytes(engine: Engine, *, base_url: str, format: str, subscriber_email: str | None = None,
               query: str | None = None, days: int = DEFAULT_DAYS, now: datetime | None = None,
               keys: Keys | None = None) -> bytes:
    """One feed's XML as the web app serves it: a subscriber's, a search's, or the newest papers.

    Raises NotFoundError for an unknown or unsubscribed subscriber, QueryError for a bad query.
    """
    indexes, now = IndexCache(size=1), now or utcnow()
    with engine.connect() as conn:
        if subscriber_email:
            row = subscriber_store.get(conn, subscriber_email)
            plan = subscriber_plan(conn, indexes, feed_token=row.feed_token, now=now, base_url=base_url,
                                   self_url=f"{base_url}/feeds/s/{row.feed_token}.{format}", keys=keys)
            if plan is None:
                raise NotFoundError(f"{row.email} is unsubscribed: they have no feed")
        elif query is not None:
            self_url = f"{base_url}/feeds/search.{format}?{urlencode({'q': query, 'days': days})}"
            plan = search_plan(conn, indexes, query=query, days=days, now=now, base_url=base_url, self_url=self_url)
        else:
            plan = papers_plan(conn, base_url=base_url, self_url=f"{base_url}/feeds/papers.{format}")
        return build_feed(plan.load(conn), plan.info, format=format)
