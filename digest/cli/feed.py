"""`digest feed`: print a feed's XML, the same bytes the web app serves for it."""

from __future__ import annotations

import enum
import sys
from typing import Optional
from urllib.parse import urlencode

import typer

from digest.cli.common import handle_errors, runtime
from digest.errors import NotFoundError
from digest.feeds import build_feed
from digest.jobs.common import utcnow
from digest.store import subscribers as subscriber_store
from digest.web.feed_data import DEFAULT_DAYS, MAX_DAYS, FeedPlan, IndexCache, papers_plan, search_plan, subscriber_plan


class FeedFormat(str, enum.Enum):
    rss = "rss"
    atom = "atom"


@handle_errors
def feed(
    ctx: typer.Context,
    subscriber: Optional[str] = typer.Option(None, "--subscriber", metavar="EMAIL",
                                             help="That subscriber's ranked feed (their interests over the last 7 days)."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Rank this interests query instead (a search feed)."),
    format: FeedFormat = typer.Option(FeedFormat.atom, "--format", help="rss (RSS 2.0) or atom (Atom 1.0)."),
    days: int = typer.Option(DEFAULT_DAYS, "--days", min=1, max=MAX_DAYS,
                             help="For --query: rank the papers first seen in this many days."),
) -> None:
    """Print a feed to stdout: the newest papers, one subscriber's ranked papers, or a search.

    The XML is what the web app serves at /feeds/papers.atom, /feeds/s/TOKEN.atom or
    /feeds/search.atom?q=...; links point at DIGEST_BASE_URL.

    Example:  digest feed --subscriber ada@example.org --format rss > ada.xml
    """
    if subscriber and query is not None:
        raise typer.BadParameter("give --subscriber or --query, not both")
    rt = runtime(ctx)
    base = rt.settings.base_url
    fmt = format.value
    with rt.engine.connect() as conn:
        plan = _plan(conn, base, fmt, subscriber=subscriber, query=query, days=days)
        body = build_feed(plan.load(conn), plan.info, format=fmt)
    sys.stdout.buffer.write(body + b"\n")
    sys.stdout.flush()


def _plan(conn, base: str, fmt: str, *, subscriber: str | None, query: str | None, days: int) -> FeedPlan:
    indexes, now = IndexCache(size=1), utcnow()
    if subscriber:
        row = subscriber_store.get(conn, subscriber)
        plan = subscriber_plan(conn, indexes, feed_token=row.feed_token, now=now, base_url=base,
                               self_url=f"{base}/feeds/s/{row.feed_token}.{fmt}")
        if plan is None:
            raise NotFoundError(f"{row.email} is unsubscribed: they have no feed")
        return plan
    if query is not None:
        self_url = f"{base}/feeds/search.{fmt}?{urlencode({'q': query, 'days': days})}"
        return search_plan(conn, indexes, query=query, days=days, now=now, base_url=base, self_url=self_url)
    return papers_plan(conn, base_url=base, self_url=f"{base}/feeds/papers.{fmt}")
