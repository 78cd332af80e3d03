"""Sources: the URLs and folders polled for snapshots, defined, listed, paused and removed.

The rules of a definition (name, location, interval, format) are checked here before
anything is written; polling them is `jobs.polling`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, Row

from digest.errors import SourceError
from digest.jobs.common import utcnow
from digest.sources import FORMATS
from digest.store import sources as source_store
from digest.store.db import write_transaction

__all__ = ["DEFAULT_INTERVAL", "add_source", "check_name", "format_interval", "get_source", "list_sources",
           "next_check_at", "parse_interval", "remove_source", "resolve_location", "set_paused"]

MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 365 * 86400
DEFAULT_INTERVAL = "30m"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """Seconds in an interval like 90s, 30m, 2h, 1d or 1h30m; raises SourceError under 1m."""
    compact = text.strip().lower().replace(" ", "")
    if not re.fullmatch(r"(\d+[smhd])+", compact):
        raise SourceError(f"bad interval {text!r}: give a number and a unit s, m, h or d (e.g. 90s, 30m, 2h, 1d)")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhd])", compact))
    if seconds < MIN_INTERVAL_SECONDS:
        raise SourceError(f"interval {text!r} is too short: the minimum is 1m")
    if seconds > MAX_INTERVAL_SECONDS:
        raise SourceError(f"interval {text!r} is too long: the maximum is 365d")
    return seconds


def format_interval(seconds: int) -> str:
    """The shortest spelling parse_interval reads back (5400 -> "1h30m"); "-" for none."""
    if seconds <= 0:
        return "-"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def check_name(name: str) -> str:
    """The name stripped; raises SourceError when empty, too long or not one printable word-ish line."""
    cleaned = name.strip()
    if not cleaned:
        raise SourceError("a source needs a name")
    if len(cleaned) > 100:
        raise SourceError(f"source name is {len(cleaned)} characters long; the maximum is 100")
    if not cleaned.isprintable():
        raise SourceError(f"source name {cleaned!r} has control characters")
    return cleaned


def _check_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"{text}: only http:// and https:// URLs can be polled")
    try:
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL) as err:
        raise SourceError(f"{text}: not a valid URL ({err})") from None
    if not host:
        raise SourceError(f"{text}: not a valid URL (no host)")
    return text


def resolve_location(location: str) -> tuple[str, str]:
    """(kind, location to store): "url" for an http(s) URL, "dir" for an existing folder (absolute).

    Raises SourceError for another URL scheme, a URL without a host, a missing folder or a file.
    """
    text = location.strip()
    if "://" in text:
        return "url", _check_url(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{text}: no such directory (give an http(s) URL or an existing folder)")
    if not path.is_dir():
        raise SourceError(f"{text}: is a file, not a directory (ingest one file with: digest ingest {text})")
    return "dir", str(path.resolve())


def next_check_at(source: Any) -> datetime | None:
    """When a polled, unpaused source is next due (None: never checked, so due now; or not polled)."""
    if source.paused or source.kind not in source_store.POLLED_KINDS or source.last_checked_at is None:
        return None
    return source.last_checked_at + timedelta(seconds=source.interval_seconds)


def add_source(engine: Engine, name: str, location: str, *, format: str | None = None,
               every: str = DEFAULT_INTERVAL, now: datetime | None = None) -> Row:
    """Check and store a new source; raises SourceError (or DuplicateSource) and writes nothing then."""
    if format is not None and format not in FORMATS:
        raise SourceError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    name = check_name(name)
    kind, stored_location = resolve_location(location)
    interval = parse_interval(every)
    with write_transaction(engine) as conn:
        return source_store.add(conn, name=name, location=stored_location, kind=kind, format=format,
                                interval_seconds=interval, now=now or utcnow())


def get_source(engine: Engine, name: str) -> Row:
    """The source called `name`; raises NotFoundError."""
    with engine.connect() as conn:
        return source_store.get(conn, name)


def list_sources(engine: Engine, *, polled_only: bool = False, unpaused_only: bool = False) -> list[Row]:
    with engine.connect() as conn:
        return source_store.listing(conn, polled_only=polled_only, unpaused_only=unpaused_only)


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed:
    name: str
    snapshots_kept: int


def remove_source(engine: Engine, name: str) -> Removed:
    """Remove a source; the snapshots and papers it brought in stay. Raises NotFoundError."""
    with write_transaction(engine) as conn:
        row = source_store.get(conn, name)
        kept = source_store.snapshot_count(conn, row.id)
        source_store.remove(conn, row.id)
    return Removed(name=row.name, snapshots_kept=kept)


def set_paused(engine: Engine, name: str, paused: bool) -> Row:
    """Pause or resume a source; raises SourceError for resuming a manual (never polled) one."""
    with write_transaction(engine) as conn:
        row = source_store.get(conn, name)
        if not paused and row.kind not in source_store.POLLED_KINDS:
            raise SourceError(f"{row.name} is a {row.kind} source (it labels snapshots given to digest ingest "
                              "--source): it is never polled")
        source_store.set_paused(conn, [row.id], paused)
    return row
