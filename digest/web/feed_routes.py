"""Feeds over HTTP: `/feeds/papers.{rss,atom}`, `/feeds/s/{feed_token}.{rss,atom}`,
`/feeds/search.{rss,atom}?q=...&days=7`.

Caching: each request first computes its feed's `FeedPlan.key` with a few index lookups
(see `digest.web.feed_data`); the built bytes, ETag and Last-Modified are kept in an LRU
keyed by (format, plan key), so a feed is built (read, ranked, serialised) once per change
of its content and every other request is a dictionary hit. Responses carry ETag,
Last-Modified and `Cache-Control: public, max-age=300`; If-None-Match (or, without it,
If-Modified-Since) that still matches gets a 304 with no body.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Callable
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from digest.errors import QueryError
from digest.feeds import build_feed, feed_etag, last_modified
from digest.web.context import Web
from digest.web.feed_data import DEFAULT_DAYS, FeedPlan, clamp_days, papers_plan, search_plan, subscriber_plan

FORMATS = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True, slots=True)
class BuiltFeed:
    body: bytes
    etag: str
    modified: datetime  # aware UTC, whole seconds
    media_type: str

    @property
    def headers(self) -> dict[str, str]:
        return {"ETag": self.etag, "Last-Modified": format_datetime(self.modified, usegmt=True),
                "Cache-Control": CACHE_CONTROL}


class FeedCache:
    """Built feeds by key, least recently used dropped past `size`. Thread-safe."""

    def __init__(self, size: int = 256):
        self._size = size
        self._items: OrderedDict[tuple, BuiltFeed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> BuiltFeed | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, feed: BuiltFeed) -> None:
        with self._lock:
            self._items[key] = feed
            while len(self._items) > self._size:
                self._items.popitem(last=False)

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


def router(web: Web, cache: FeedCache) -> APIRouter:
    routes = APIRouter()
    base = web.settings.base_url

    def serve(request: Request, format: str, plan_of: Callable[[Connection], FeedPlan | None]) -> Response:
        if format not in FORMATS:
            return PlainTextResponse("no such feed\n", status_code=404)
        with web.engine.connect() as conn:
            try:
                plan = plan_of(conn)
            except QueryError as err:
                return PlainTextResponse(f"{err}\n", status_code=400)
            if plan is None:
                return PlainTextResponse("no such feed\n", status_code=404)
            key = (format, plan.key)
            feed = cache.get(key)
            if feed is None:
                items = plan.load(conn)
                body = build_feed(items, plan.info, format=format)  # type: ignore[arg-type]
                feed = BuiltFeed(body, feed_etag(body), last_modified(items), FORMATS[format])
                cache.put(key, feed)
        if not_modified(request, feed):
            return Response(status_code=304, headers=feed.headers)
        return Response(feed.body, media_type=feed.media_type, headers=feed.headers)

    @routes.get("/feeds/papers.{format}")
    def papers_feed(request: Request, format: str) -> Response:
        self_url = f"{base}/feeds/papers.{format}"
        return serve(request, format, lambda conn: papers_plan(conn, base_url=base, self_url=self_url))

    @routes.get("/feeds/search.{format}")
    def search_feed(request: Request, format: str, q: str = "", days: str = str(DEFAULT_DAYS)) -> Response:
        if not days.strip().isdigit():
            return PlainTextResponse("days must be a whole number from 1 to 30\n", status_code=400)
        span = clamp_days(int(days))
        self_url = f"{base}/feeds/search.{format}?{urlencode({'q': q, 'days': span})}"
        return serve(request, format, lambda conn: search_plan(conn, web.indexes, query=q, days=span, now=web.clock(),
                                                               base_url=base, self_url=self_url))

    @routes.get("/feeds/s/{feed_token}.{format}")
    def subscriber_feed(request: Request, feed_token: str, format: str) -> Response:
        self_url = f"{base}/feeds/s/{feed_token}.{format}"
        return serve(request, format, lambda conn: subscriber_plan(conn, web.indexes, feed_token=feed_token,
                                                                   now=web.clock(), base_url=base, self_url=self_url))

    return routes
