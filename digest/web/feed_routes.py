"""Feeds over HTTP: `/feeds/papers.{rss,atom}`, `/feeds/s/{feed_token}.{rss,atom}`,
`/feeds/search.{rss,atom}?q=...&days=7`.

Caching, two levels:

* `FeedCache`: the built bytes, ETag and Last-Modified, LRU by (format, `FeedPlan.key`).
  The plan key (see `digest.jobs.feeds`) changes whenever the feed's content would, so
  a feed is built (read, ranked, serialised) once per change and served from memory after.
* `PlanMemo`: working out the plan key takes 1-3 index lookups in a worker thread; the
  plan of each distinct request (feed, parameters) is reused for `ttl` seconds (1 s by
  default), so a hot feed is answered on the event loop without touching the database
  or the thread pool. The price: a change shows in a feed up to `ttl` seconds late,
  which no reader can notice behind `max-age=300`. `ttl=0` turns this level off.

Responses carry ETag, Last-Modified and `Cache-Control: public, max-age=300` (a personal
feed, whose URL is its secret: `private`, so no shared cache keeps it); an If-None-Match
(or, without it, If-Modified-Since) that still matches gets a 304, no body. `days` must be
ASCII digits (at most 6: "²" or a 5,000-digit number is a 400, never a 500).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Callable
from urllib.parse import urlencode

from cachetools import LRUCache, TTLCache
from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from digest.errors import QueryError
from digest.feeds import build_feed, feed_etag, last_modified
from digest.jobs.feeds import DEFAULT_DAYS, FeedPlan, clamp_days, papers_plan, search_plan, subscriber_plan
from digest.web.context import Web
from digest.web.forms import UNSTORABLE

FORMATS = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
CACHE_CONTROL = "public, max-age=300"
PRIVATE_CACHE_CONTROL = "private, max-age=300"
MAX_FEED_TOKEN = 64  # the column's length
PlanOf = Callable[[Connection], FeedPlan | None]


@dataclass(frozen=True, slots=True)
class BuiltFeed:
    body: bytes
    etag: str
    modified: datetime  # aware UTC, whole seconds
    media_type: str
    cache_control: str = CACHE_CONTROL

    @property
    def headers(self) -> dict[str, str]:
        return {"ETag": self.etag, "Last-Modified": format_datetime(self.modified, usegmt=True),
                "Cache-Control": self.cache_control}


class FeedCache:
    """Built feeds by key, least recently used dropped past `size`. Thread-safe."""

    def __init__(self, size: int = 256):
        self._items: LRUCache[tuple, BuiltFeed] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, key: tuple) -> BuiltFeed | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple, feed: BuiltFeed) -> None:
        with self._lock:
            self._items[key] = feed

    def __len__(self) -> int:
        return len(self._items)


def not_modified(request: Request, feed: BuiltFeed) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present; else If-Modified-Since."""
    tags = request.headers.get("if-none-match")
    if tags is not None:
        wanted = {tag.strip().removeprefix("W/") for tag in tags.split(",")}
        return "*" in wanted or feed.etag in wanted
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return moment.tzinfo is not None and feed.modified <= moment


_MISSING = object()


class PlanMemo:
    """What each distinct feed request resolved to (a FeedPlan, None for "no such feed", or
    the QueryError of a bad search), kept `ttl` seconds. LRU-bounded. Thread-safe."""

    def __init__(self, ttl: float, *, size: int = 4096, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock  # read on every lookup, so a test can swap it
        self._items: TTLCache[tuple, object] | None = (
            TTLCache(maxsize=size, ttl=ttl, timer=lambda: self.clock()) if ttl > 0 else None)
        self._lock = threading.Lock()

    def get(self, ident: tuple) -> object:
        """The outcome stored for `ident` if still fresh, else `_MISSING`."""
        if self._items is None:
            return _MISSING
        with self._lock:
            return self._items.get(ident, _MISSING)

    def put(self, ident: tuple, outcome: object) -> None:
        if self._items is None:
            return
        with self._lock:
            self._items[ident] = outcome


# Long by design: FastAPI routes are closures over `web`; each route is short, and the factory
# is as long as the routes it holds.
def router(web: Web, cache: FeedCache, memo: PlanMemo) -> APIRouter:
    routes = APIRouter()
    base = web.settings.base_url

    def respond(request: Request, feed: BuiltFeed) -> Response:
        if not_modified(request, feed):
            return Response(status_code=304, headers=feed.headers)
        return Response(feed.body, media_type=feed.media_type, headers=feed.headers)

    def settled(request: Request, format: str, outcome: object) -> Response | None:
        """The answer for a known plan outcome, or None when the feed must be built."""
        if isinstance(outcome, QueryError):
            return PlainTextResponse(f"{outcome}\n", status_code=400)
        if outcome is None:
            return PlainTextResponse("no such feed\n", status_code=404)
        feed = cache.get((format, outcome.key))  # type: ignore[attr-defined]
        return respond(request, feed) if feed is not None else None

    def resolve(request: Request, format: str, ident: tuple, plan_of: PlanOf) -> Response:
        """In a worker thread: work out the plan, then answer from the cache or build."""
        with web.engine.connect() as conn:
            try:
                outcome: object = plan_of(conn)
            except QueryError as err:
                outcome = err
            memo.put(ident, outcome)
            answer = settled(request, format, outcome)
            if answer is not None:
                return answer
            plan: FeedPlan = outcome  # type: ignore[assignment]
            try:
                items = plan.load(conn)
            except QueryError as err:  # valid as written, refused by the ranker once normalised
                memo.put(ident, err)
                return settled(request, format, err)  # type: ignore[return-value]
        body = build_feed(items, plan.info, format=format)  # type: ignore[arg-type]
        private = ident[0] == "subscriber"
        feed = BuiltFeed(body, feed_etag(body), last_modified(items), FORMATS[format],
                         PRIVATE_CACHE_CONTROL if private else CACHE_CONTROL)
        cache.put((format, plan.key), feed)
        return respond(request, feed)

    async def serve(request: Request, format: str, ident: tuple, plan_of: PlanOf) -> Response:
        if format not in FORMATS:
            return PlainTextResponse("no such feed\n", status_code=404)
        outcome = memo.get(ident)
        if outcome is not _MISSING:
            answer = settled(request, format, outcome)
            if answer is not None:  # the fast path: no thread, no database
                return answer
        return await run_in_threadpool(resolve, request, format, ident, plan_of)

    @routes.api_route("/feeds/papers.{format}", methods=["GET", "HEAD"])
    async def papers_feed(request: Request, format: str) -> Response:
        self_url = f"{base}/feeds/papers.{format}"
        return await serve(request, format, ("papers", self_url),
                           lambda conn: papers_plan(conn, base_url=base, self_url=self_url))

    @routes.api_route("/feeds/search.{format}", methods=["GET", "HEAD"])
    async def search_feed(request: Request, format: str, q: str = "", days: str = str(DEFAULT_DAYS)) -> Response:
        digits = days.strip()
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
            return PlainTextResponse("days must be a whole number from 1 to 30\n", status_code=400)
        span = clamp_days(int(digits))
        self_url = f"{base}/feeds/search.{format}?{urlencode({'q': q, 'days': span})}"
        return await serve(request, format, ("search", self_url),
                           lambda conn: search_plan(conn, web.indexes, query=q, days=span, now=web.clock(),
                                                    base_url=base, self_url=self_url))

    @routes.api_route("/feeds/s/{feed_token}.{format}", methods=["GET", "HEAD"])
    async def subscriber_feed(request: Request, feed_token: str, format: str) -> Response:
        if len(feed_token) > MAX_FEED_TOKEN or UNSTORABLE.search(feed_token):  # no such token: PostgreSQL
            return PlainTextResponse("no such feed\n", status_code=404)  # would refuse NUL with a 500
        self_url = f"{base}/feeds/s/{feed_token}.{format}"
        return await serve(request, format, ("subscriber", self_url),
                           lambda conn: subscriber_plan(conn, web.indexes, feed_token=feed_token, now=web.clock(),
                                                        base_url=base, self_url=self_url, keys=web.keys))

    return routes
