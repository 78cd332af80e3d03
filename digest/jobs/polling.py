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

- URL sources: a conditional GET (stored ETag / Last-Modified, replaced only after the
  response was ingested) through `digest.fetch.Fetcher` (retries, per-host limit).
- HF API sources (huggingface.co/api/daily_papers without a `date`): the previous and the
  current UTC listing day are fetched, each its own snapshot: a poll just after midnight UTC
  sees an almost empty day, and papers are added to a day late.
- Folder sources: each settled snapshot file is ingested, then moved to done/ (or to
  failed/ beside a .error.txt saying why), so the folder shows what happened to each file
  (`jobs.folders`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Engine

from digest.config import Settings
from digest.errors import DigestError, FetchError, SnapshotError, SourceError
from digest.fetch import Fetcher, read_file
from digest.jobs.folders import DONE_DIR, file_away, move_failed, move_into, scan_folder
from digest.jobs.ingest import ingest_bytes, preview_bytes
from digest.models import IngestReport
from digest.store import sources as source_store
from digest.store.db import write_transaction

__all__ = ["POLL_EVERY_SECONDS", "PollOutcome", "check_source", "listing_urls", "poll_due", "poll_due_outcomes",
           "poll_source", "poll_sources"]

log = logging.getLogger("digest.jobs.polling")

POLL_EVERY_SECONDS = 60


# --- What one poll found ------------------------------------------------------------------


@dataclass(kw_only=True)
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


def _poll_url(source: Any, fetcher: Fetcher, ingest: Ingest, outcome: PollOutcome,
              now: datetime) -> tuple[str | None, str | None] | None:
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


def _poll_folder(source: Any, settings: Settings, ingest: Ingest, outcome: PollOutcome, now: datetime, *,
                 move: bool) -> None:
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
                file_away(outcome.fail, path, move_failed, path, err, now)
            continue
        outcome.reports.append(report)
        if move:
            file_away(outcome.fail, path, move_into, path, folder / DONE_DIR)


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
    outcome = PollOutcome(source=source.name, kind=source.kind)

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


def _poll_and_record(engine: Engine, settings: Settings, source: Any, *, now: datetime,
                     fetcher: Fetcher) -> PollOutcome:
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
    fetcher: Fetcher | None = None,
) -> list[IngestReport]:
    """Poll one source row now (paused or not) and record the check on it.

    Returns the reports of what was ingested (duplicates included; [] for 304 or an empty
    folder). Raises the first DigestError when the poll produced nothing but errors (the
    URL failed after its retries, the folder is gone, the only file was bad); partial
    trouble is only recorded in last_error. `fetcher` is for tests.
    """
    with fetcher or Fetcher.for_settings(settings) as fetcher:
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
    fetcher: Fetcher | None = None,
) -> list[PollOutcome]:
    """Poll each source row in turn and record each check; one source's failure never stops the rest."""
    with fetcher or Fetcher.for_settings(settings) as fetcher:
        return [_poll_and_record(engine, settings, source, now=now, fetcher=fetcher) for source in sources]


def poll_due_outcomes(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    fetcher: Fetcher | None = None,
) -> list[PollOutcome]:
    """Poll every due source (unpaused, last_checked_at + interval <= now); one outcome each.

    Each source is claimed first (compare-and-set on last_checked_at), so two schedulers
    running at once do not both fetch it. Never raises for a source's fetch or content
    trouble; database errors propagate.
    """
    with engine.connect() as conn:
        due = source_store.due_sources(conn, now=now)
    outcomes = []
    with fetcher or Fetcher.for_settings(settings) as fetcher:
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
    fetcher: Fetcher | None = None,
) -> list[IngestReport]:
    """The scheduler's job: poll_due_outcomes, flattened to the ingest reports, oldest first.

    Never raises for a source's trouble: each failing source is logged as a warning (and
    recorded in its last_error); database errors propagate.
    """
    reports: list[IngestReport] = []
    for outcome in poll_due_outcomes(engine, settings, now=now, fetcher=fetcher):
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
    fetcher: Fetcher | None = None,
) -> PollOutcome:
    """What polling `source` now would ingest, without writing to the store or moving files.

    Fetches like a poll (validators sent, so an unchanged URL answers 304), parses, and
    diffs against the stored papers in a rolled-back read. Each input is diffed against
    the store alone, so papers shared by two inputs of one check count as new in both.
    """
    with fetcher or Fetcher.for_settings(settings) as fetcher:
        outcome, _ = _run(engine, settings, source, now=now, fetcher=fetcher, dry_run=True)
    return outcome
