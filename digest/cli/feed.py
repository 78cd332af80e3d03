"""`digest feed`: print a feed's XML, the same bytes the web app serves for it."""

from __future__ import annotations

import enum
import sys
from typing import Optional

import typer

from digest.cli.common import handle_errors, runtime
from digest.jobs.feeds import DEFAULT_DAYS, MAX_DAYS, feed_bytes


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
    keys = rt.settings.signing_keys() if subscriber and rt.settings.secret_key is not None else None
    body = feed_bytes(rt.engine, base_url=rt.settings.base_url, format=format.value, subscriber_email=subscriber,
                      query=query, days=days, keys=keys)
    sys.stdout.buffer.write(body + b"\n")
    sys.stdout.flush()
