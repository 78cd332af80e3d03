"""Polling sources: fetch what is new at a URL or in a folder, and ingest it.

What the scheduler calls, every `POLL_EVERY_SECONDS` (the shortest source interval is a
minute, so polling the due ones each minute is on time to within a minute):

    poll_due(engine, settings, now=utcnow())  -> list[IngestReport]

It polls every unpaused source whose last_checked_at + interval <= now, one after the
other, and never raises for one source's trouble: fetch failures and bad files end up in
the source's last_error and in a warning log line. `poll_due_outcomes` is the same with
one `PollOutcome` per source (errors, 304s, files still being written); `poll_source`
polls one source row; `check_source` is the dry run behind `digest sources check`
(nothing written or moved).

- URL sources: conditional GET (stored ETag / Last-Modified, replaced only after the
  response was ingested), the fetch timeout and size cap of `fetch_url`, 3 attempts with
  exponential backoff on network errors and 5xx, and at most one request per 3 s to a host
  (arXiv asks for that) through a process-wide `HostRateLimiter`.
- HF API sources (huggingface.co/api/daily_papers without a `date`): the previous and the
  current UTC listing day are fetched, each its own snapshot: a poll just after midnight UTC
  sees an almost empty day, and papers are added to a day late.
- Folder sources: each settled snapshot file is ingested, then moved to done/ (or to
  failed/ beside a .error.txt saying why), so the folder shows what happened to each file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import Engine

from digest.config import Settings
from digest.diff import dedupe, diff_snapshot
from digest.errors import DigestError, FetchError, SnapshotError
from digest.jobs.ingest import ingest_bytes
from digest.models import IngestReport
from digest.sources import parse_snapshot
from digest.sources.fetch import Fetched, fetch_url, read_file
from digest.store import papers as paper_store
from digest.store import sources as source_store
from digest.store.db import write_transaction

log = logging.getLogger("digest.sources.poll")

POLL_EVERY_SECONDS = 60
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 365 * 86400
DEFAULT_INTERVAL = "30m"
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0  # doubled after each failed attempt: 1 s, 2 s
HOST_INTERVAL_SECONDS = 3.0
# A file modified this recently may still be being written (a copy or a download).
SETTLE_SECONDS = 2.0
DONE_DIR, FAILED_DIR = "done", "failed"
ERROR_SUFFIX = ".error.txt"
# Names that mark a file still being written by common tools.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SourceError(DigestError):
    """A source definition that cannot work: bad name, location, interval or kind."""


class SourceUnavailable(DigestError):
    """A source that cannot be read right now (its folder is gone or unreadable)."""

    exit_code = 2


# --- Defining a source --------------------------------------------------------------


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


def resolve_location(location: str) -> tuple[str, str]:
    """(kind, location to store): "url" for an http(s) URL, "dir" for an existing folder (absolute).

    Raises SourceError for another URL scheme, a URL without a host, a missing folder or a file.
    """
    text = location.strip()
    if "://" in text:
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
        return "url", text
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{text}: no such directory (give an http(s) URL or an existing folder)")
    if not path.is_dir():
        raise SourceError(f"{text}: is a file, not a directory (ingest one file with: digest ingest {text})")
    return "dir", str(path.resolve())


# --- Fetching politely ---------------------------------------------------------------


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class HostRateLimiter:
    """At most one request per `interval` seconds to each host; safe across threads.

    `wait(url)` reserves the host's next free slot and sleeps until it, so concurrent
    callers queue up instead of all firing when the interval ends. Clock and sleep are
    parameters so tests run without waiting.
    """

    def __init__(
        self,
        interval: float = HOST_INTERVAL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str) -> float:
        """Block until a request to `url`'s host is allowed; returns the seconds waited."""
        host = host_of(url)
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
        delay = slot - now
        if delay > 0:
            self.sleep(delay)
        return delay


# One per process: every poll in it shares the per-host budget.
DEFAULT_LIMITER = HostRateLimiter()

def is_retryable(err: FetchError) -> bool:
    """Network errors, timeouts and 5xx are worth another try; 4xx and the size cap are not."""
    return err.retryable


@dataclass
class Fetcher:
    """How a poll reaches the network: one client, the per-host limiter, retries with backoff."""

    settings: Settings
    client: httpx.Client
    limiter: HostRateLimiter = DEFAULT_LIMITER
    sleep: Callable[[float], None] = time.sleep
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF_SECONDS

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """Fetch `url` (conditionally when validators are given); raises FetchError after the last attempt."""
        for attempt in range(1, self.attempts + 1):
            self.limiter.wait(url)
            try:
                return fetch_url(
                    url, cap=self.settings.max_snapshot_bytes, timeout=self.settings.fetch_timeout,
                    etag=etag, last_modified=last_modified, client=self.client,
                )
            except httpx.InvalidURL as err:
                raise FetchError(f"{url}: invalid URL: {err}", retryable=False) from None
            except FetchError as err:
                if attempt == self.attempts or not is_retryable(err):
                    if attempt > 1:
                        raise FetchError(f"{err} (after {attempt} attempts)", status=err.status, retryable=err.retryable) from None
                    raise
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


@contextmanager
def _fetcher(
    settings: Settings, client: httpx.Client | None, limiter: HostRateLimiter | None, sleep: Callable[[float], None]
) -> Iterator[Fetcher]:
    """A Fetcher on the given client, or on one of our own closed afterwards."""
    own = client is None
    client = client or httpx.Client(timeout=settings.fetch_timeout, follow_redirects=True)
    try:
        yield Fetcher(settings, client, limiter or DEFAULT_LIMITER, sleep)
    finally:
        if own:
            client.close()


# --- What one poll found ------------------------------------------------------------------


@dataclass
class PollOutcome:
    """One source's poll (or dry-run check).

    `errors`: one line each (fetch failures, bad snapshots); `exit_code` the worst of them.
    `waiting`: folder files left for the next poll because they are still being written.
    """

    source: str
    kind: str
    reports: list[IngestReport] = field(default_factory=list)
    not_modified: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    exit_code: int = 0
    first_error: DigestError | None = field(default=None, repr=False)

    def fail(self, err: DigestError) -> None:
        self.errors.append(source_store.one_line(str(err)))
        self.exit_code = max(self.exit_code, err.exit_code)
        self.first_error = self.first_error or err

    @property
    def succeeded(self) -> bool:
        """A poll succeeds unless it produced nothing but errors (a bad file beside good ones is a success)."""
        return not self.errors or bool(self.reports or self.not_modified)

    @property
    def error(self) -> str | None:
        """The errors as the one line stored in last_error, or None."""
        if not self.errors:
            return None
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return self.errors[0] + more

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "ok": not self.errors,
            "reports": [report.as_dict() for report in self.reports],
            "not_modified": list(self.not_modified),
            "errors": list(self.errors),
            "waiting": list(self.waiting),
        }


class Ingest(Protocol):
    def __call__(self, data: bytes, *, input: str) -> IngestReport: ...


def preview_bytes(engine: Engine, data: bytes, *, input: str, format: str | None = None) -> IngestReport:
    """What `ingest_bytes` would report for `data`, computed without writing anything.

    Parses, then diffs against the stored papers inside a transaction that is rolled back.
    Raises SnapshotError (naming `input`) like ingest_bytes. `snapshot_id` is the stored
    snapshot's for known content, else None.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    with engine.connect() as conn:
        seen = paper_store.find_snapshot(conn, sha256)
    if seen is not None:
        return IngestReport(input=input, format=seen.format, papers=seen.paper_count, new=0, updated=0, unchanged=0,
                            duplicate_snapshot=True, listing_day=seen.listing_day, snapshot_id=seen.id)
    parsed = parse_snapshot(data, input=input, format=format)
    unique = dedupe(parsed.papers)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            diff = diff_snapshot(unique, paper_store.load_known(conn, unique))
        finally:
            transaction.rollback()
    return IngestReport(
        input=input, format=parsed.format, papers=len(diff.sightings), new=len(diff.new),
        updated=len(diff.updated), unchanged=len(diff.unchanged), duplicate_snapshot=False,
        listing_day=parsed.listing_day, warnings=list(parsed.warnings),
    )


# --- URL sources --------------------------------------------------------------------------


def is_hf_daily_papers(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() in ("huggingface.co", "www.huggingface.co") and (
        parts.path.rstrip("/") == "/api/daily_papers"
    )


def listing_urls(url: str, now: datetime) -> list[str]:
    """The URLs one poll of `url` fetches, oldest listing first.

    An HF daily_papers URL without a `date` becomes two: the previous and the current UTC
    day (other query parameters kept). Any other URL is fetched as it is.
    """
    if not is_hf_daily_papers(url):
        return [url]
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "date" for key, _ in query):
        return [url]
    today = now.astimezone(timezone.utc).date()
    return [urlunsplit(parts._replace(query=urlencode([*query, ("date", day.isoformat())])))
            for day in (today - timedelta(days=1), today)]


def _poll_url(source: Any, fetcher: Fetcher, ingest: Ingest, outcome: PollOutcome, now: datetime) -> tuple[str | None, str | None] | None:
    """Fetch and ingest each listing URL of `source`; returns validators to store, or None.

    Validators are sent and kept only for a single-URL source: the two HF days are two
    different resources, and duplicate content is recognised by its hash anyway.
    """
    urls = listing_urls(source.location, now)
    conditional = len(urls) == 1
    validators = None
    for url in urls:
        try:
            if conditional:
                fetched = fetcher.get(url, etag=source.etag, last_modified=source.last_modified)
            else:
                fetched = fetcher.get(url)
        except FetchError as err:
            outcome.fail(err)
            continue
        if fetched.data is None:
            outcome.not_modified.append(url)
            continue
        try:
            outcome.reports.append(ingest(fetched.data, input=url))
        except SnapshotError as err:
            outcome.fail(err)
            continue
        if conditional:
            validators = (fetched.etag, fetched.last_modified)
    return validators


# --- Folder sources -----------------------------------------------------------------------


def _is_candidate(name: str) -> bool:
    """Hidden files and names of half-written downloads are never snapshots yet."""
    return not name.startswith(".") and not name.endswith(PARTIAL_SUFFIXES)


def scan_folder(folder: Path, now: datetime) -> tuple[list[Path], list[Path]]:
    """(ready, waiting) snapshot files directly in `folder`, oldest first.

    Sub-folders (done/, failed/), hidden and partial files are ignored; files modified less
    than SETTLE_SECONDS before `now` are `waiting` (probably still being written). `now`
    must be the real time for that test to mean anything. Raises SourceUnavailable when
    the folder cannot be listed.
    """
    cutoff = now.timestamp() - SETTLE_SECONDS
    ready: list[tuple[float, str, Path]] = []
    waiting: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        raise SourceUnavailable(f"{folder}: directory not found") from None
    except OSError as err:
        raise SourceUnavailable(f"{folder}: cannot list the directory: {err.strerror}") from None
    for entry in entries:
        try:
            if not _is_candidate(entry.name) or not entry.is_file():
                continue
            mtime = entry.stat().st_mtime
        except OSError:
            continue  # vanished (taken by another poller) or unreadable: not ours to judge
        (waiting if mtime > cutoff else ready).append((mtime, entry.name, Path(entry.path)))
    return [path for *_, path in sorted(ready)], [path for *_, path in sorted(waiting)]


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or name.1.ext, name.2.ext... when taken (same-named drops keep both)."""
    stem, suffix = os.path.splitext(name)
    target, number = folder / name, 1
    while target.exists() or Path(f"{target}{ERROR_SUFFIX}").exists():
        target, number = folder / f"{stem}.{number}{suffix}", number + 1
    return target


def move_into(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` (created if needed) without overwriting; returns the new path."""
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name)
    path.replace(target)
    return target


def _move_failed(path: Path, err: DigestError, now: datetime) -> None:
    target = move_into(path, path.parent / FAILED_DIR)
    Path(f"{target}{ERROR_SUFFIX}").write_text(
        f"{source_store.one_line(str(err))}\nfailed at {now.isoformat()} (fix the file and drop it in again)\n",
        encoding="utf-8",
    )


def _poll_folder(source: Any, settings: Settings, ingest: Ingest, outcome: PollOutcome, now: datetime, *, move: bool) -> None:
    """Ingest each ready file of a folder source; with `move`, file it under done/ or failed/.

    One bad file never stops the others: it is moved to failed/ with a .error.txt beside
    it. A file another poller took meanwhile is skipped without a word.
    """
    folder = Path(source.location)
    ready, waiting = scan_folder(folder, now)
    outcome.waiting = [path.name for path in waiting]
    for path in ready:
        try:
            report = ingest(read_file(path, settings.max_snapshot_bytes), input=str(path))
        except SnapshotError as err:
            if not path.exists():
                continue
            # Named by the file alone: the folder is the source's location, shown beside it.
            err = err.at(path.name)
            outcome.fail(err)
            if move:
                _file_away(outcome, path, _move_failed, path, err, now)
            continue
        outcome.reports.append(report)
        if move:
            _file_away(outcome, path, move_into, path, folder / DONE_DIR)


def _file_away(outcome: PollOutcome, path: Path, move: Callable[..., object], *args: Any) -> None:
    # A file that cannot be moved is ingested again next time (recognised as a duplicate)
    # and the move retried; the user sees why in last_error.
    try:
        move(*args)
    except FileNotFoundError:
        return  # already gone (another poller moved it): nothing left to file away
    except OSError as err:
        outcome.fail(SourceUnavailable(f"{path}: cannot move it out of the folder: {err.strerror}"))


# --- Polling ------------------------------------------------------------------------------


def _run(
    engine: Engine,
    settings: Settings,
    source: Any,
    *,
    now: datetime,
    fetcher: Fetcher,
    dry_run: bool,
) -> tuple[PollOutcome, tuple[str | None, str | None] | None]:
    """Poll (or, with dry_run, only preview) one source; never raises DigestError."""
    outcome = PollOutcome(source.name, source.kind)

    def ingest(data: bytes, *, input: str) -> IngestReport:
        if dry_run:
            return preview_bytes(engine, data, input=input, format=source.format)
        return ingest_bytes(engine, data, input=input, format=source.format, source_id=source.id, now=now)

    validators = None
    try:
        if source.kind == "url":
            validators = _poll_url(source, fetcher, ingest, outcome, now)
        elif source.kind == "dir":
            _poll_folder(source, settings, ingest, outcome, now, move=not dry_run)
        else:
            raise SourceError(f"{source.name} is a {source.kind} source (it only labels snapshots given to "
                              "digest ingest --source): there is nothing to poll")
    except DigestError as err:
        outcome.fail(err)
    return outcome, validators


def _poll_and_record(engine: Engine, settings: Settings, source: Any, *, now: datetime, fetcher: Fetcher) -> PollOutcome:
    outcome, validators = _run(engine, settings, source, now=now, fetcher=fetcher, dry_run=False)
    if source.kind not in source_store.POLLED_KINDS:
        return outcome  # a manual source was never polled: nothing to record on it
    with write_transaction(engine) as conn:
        source_store.record_check(conn, source.id, now=now, succeeded=outcome.succeeded, error=outcome.error,
                                  validators=validators)
    return outcome


def poll_source(
    engine: Engine,
    settings: Settings,
    source: Any,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limiter: HostRateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[IngestReport]:
    """Poll one source row now (paused or not) and record the check on it.

    Returns the reports of what was ingested (duplicates included; [] for 304 or an empty
    folder). Raises the first DigestError when the poll produced nothing but errors (the
    URL failed after its retries, the folder is gone, the only file was bad); partial
    trouble is only recorded in last_error. `client`, `limiter`, `sleep` are for tests.
    """
    with _fetcher(settings, client, limiter, sleep) as fetcher:
        outcome = _poll_and_record(engine, settings, source, now=now, fetcher=fetcher)
    if not outcome.succeeded and outcome.first_error is not None:
        raise outcome.first_error
    return outcome.reports


def poll_sources(
    engine: Engine,
    settings: Settings,
    sources: Sequence[Any],
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limiter: HostRateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PollOutcome]:
    """Poll each source row in turn and record each check; one source's failure never stops the rest."""
    with _fetcher(settings, client, limiter, sleep) as fetcher:
        return [_poll_and_record(engine, settings, source, now=now, fetcher=fetcher) for source in sources]


def poll_due_outcomes(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limiter: HostRateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PollOutcome]:
    """Poll every due source (unpaused, last_checked_at + interval <= now); one outcome each.

    Each source is claimed first (compare-and-set on last_checked_at), so two schedulers
    running at once do not both fetch it. Never raises for a source's fetch or content
    trouble; database errors propagate.
    """
    with engine.connect() as conn:
        due = source_store.due_sources(conn, now=now)
    outcomes = []
    with _fetcher(settings, client, limiter, sleep) as fetcher:
        for source in due:
            with write_transaction(engine) as conn:
                if not source_store.claim(conn, source.id, seen_checked_at=source.last_checked_at, now=now):
                    continue
            outcomes.append(_poll_and_record(engine, settings, source, now=now, fetcher=fetcher))
    return outcomes


def poll_due(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limiter: HostRateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[IngestReport]:
    """The scheduler's job: poll_due_outcomes, flattened to the ingest reports, oldest first.

    Never raises for a source's trouble: each failing source is logged as a warning (and
    recorded in its last_error); database errors propagate.
    """
    reports: list[IngestReport] = []
    for outcome in poll_due_outcomes(engine, settings, now=now, client=client, limiter=limiter, sleep=sleep):
        if outcome.errors:
            log.warning("source %s: %s", outcome.source, outcome.error,
                        extra={"source": outcome.source, "errors": outcome.errors})
        reports.extend(outcome.reports)
    return reports


def check_source(
    engine: Engine,
    settings: Settings,
    source: Any,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limiter: HostRateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PollOutcome:
    """What polling `source` now would ingest, without writing to the store or moving files.

    Fetches like a poll (validators sent, so an unchanged URL answers 304), parses, and
    diffs against the stored papers in a rolled-back read. Each input is diffed against
    the store alone, so papers shared by two inputs of one check count as new in both.
    """
    with _fetcher(settings, client, limiter, sleep) as fetcher:
        outcome, _ = _run(engine, settings, source, now=now, fetcher=fetcher, dry_run=True)
    return outcome


def next_check_at(source: Any) -> datetime | None:
    """When a polled, unpaused source is next due (None: never checked, so due now; or not polled)."""
    if source.paused or source.kind not in source_store.POLLED_KINDS or source.last_checked_at is None:
        return None
    return source.last_checked_at + timedelta(seconds=source.interval_seconds)


__all__ = [
    "DEFAULT_LIMITER", "Fetcher", "HostRateLimiter", "POLL_EVERY_SECONDS", "PollOutcome", "SourceError",
    "SourceUnavailable", "check_source", "format_interval", "listing_urls", "next_check_at", "parse_interval",
    "poll_due", "poll_due_outcomes", "poll_source", "poll_sources", "preview_bytes", "resolve_location", "scan_folder",
]
