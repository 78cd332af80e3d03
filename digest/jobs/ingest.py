"""Ingest use case: parse, diff and store one snapshot (or only preview what it would do)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.config import Settings
from digest.diff import dedupe, diff_snapshot
from digest.fetch import Fetcher, is_url, read_local
from digest.jobs.common import gc_paused, utcnow
from digest.models import IngestReport, ParsedSnapshot
from digest.sources import MAX_UNPACKED_BYTES, parse_snapshot
from digest.jobs.features import index_snapshot_features
from digest.store import paper_ids
from digest.store import papers as paper_store
from digest.store import sources as source_store
from digest.store import votes as vote_store
from digest.store.db import write_transaction

__all__ = ["ingest_bytes", "ingest_location", "preview_bytes"]


def _already_stored(engine: Engine, input: str, sha256: str) -> IngestReport | None:
    """The report for content stored before (recognised by its hash), or None."""
    with engine.connect() as conn:
        row = paper_store.find_snapshot(conn, sha256)
    if row is None:
        return None
    return IngestReport(input=input, format=row.format, papers=row.paper_count, new=0, updated=0, unchanged=0,
                        duplicate_snapshot=True, listing_day=row.listing_day, snapshot_id=row.id)


def ingest_bytes(
    engine: Engine,
    data: bytes,
    *,
    input: str,
    format: str | None = None,
    source_id: int | None = None,
    now: datetime | None = None,
    today: date | None = None,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> IngestReport:
    """Parse, diff and store one snapshot in one transaction; safe to re-run.

    The same content ingested again is recognised by its SHA-256 and changes nothing. Raises
    SnapshotError (naming `input`) for unreadable content, leaving the database untouched.
    `max_bytes` caps what gzip-compressed content may unpack to.
    """
    now = now or utcnow()
    sha256 = hashlib.sha256(data).hexdigest()
    if (seen := _already_stored(engine, input, sha256)) is not None:
        return seen
    try:
        with gc_paused():
            parsed = parse_snapshot(data, input=input, format=format, today=today, max_bytes=max_bytes)
            return _store(engine, parsed, input=input, sha256=sha256, source_id=source_id, now=now)
    except IntegrityError:
        # Another process stored the same content between our check and our insert.
        if (seen := _already_stored(engine, input, sha256)) is None:
            raise
        return seen


def preview_bytes(engine: Engine, data: bytes, *, input: str, format: str | None = None) -> IngestReport:
    """What `ingest_bytes` would report for `data`, computed without writing anything.

    Parses, then diffs against the stored papers inside a transaction that is rolled back.
    Raises SnapshotError (naming `input`) like ingest_bytes. `snapshot_id` is the stored
    snapshot's for known content, else None.
    """
    if (seen := _already_stored(engine, input, hashlib.sha256(data).hexdigest())) is not None:
        return seen
    parsed = parse_snapshot(data, input=input, format=format)
    unique = dedupe(parsed.papers)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            diff = diff_snapshot(unique, paper_store.load_known(conn, unique))
        finally:
            transaction.rollback()
    return _report(parsed, diff, input=input, snapshot_id=None)


def _report(parsed: ParsedSnapshot, diff, *, input: str, snapshot_id: int | None) -> IngestReport:
    return IngestReport(
        input=input, format=parsed.format, papers=len(diff.sightings), new=len(diff.new),
        updated=len(diff.updated), unchanged=len(diff.unchanged), duplicate_snapshot=False,
        listing_day=parsed.listing_day, snapshot_id=snapshot_id, warnings=list(parsed.warnings),
    )


def _store(
    engine: Engine, parsed: ParsedSnapshot, *, input: str, sha256: str, source_id: int | None, now: datetime
) -> IngestReport:
    unique = dedupe(parsed.papers)
    with write_transaction(engine) as conn:
        known = paper_store.load_known(conn, unique)
        diff = diff_snapshot(unique, known)
        retired = paper_ids.retire_library_copies(conn, diff.new) if diff.new else {}
        snapshot_id = paper_store.save_snapshot(
            conn, parsed=parsed, diff=diff, input=input, sha256=sha256, now=now, source_id=source_id
        )
        paper_ids.rehome_library_votes(conn, retired)
        wanted = vote_store.anyone_likes(conn)
    if wanted:  # features now, while the papers are at hand; otherwise when a profile first needs them
        index_snapshot_features(engine, diff)
    return _report(parsed, diff, input=input, snapshot_id=snapshot_id)


def ingest_location(
    engine: Engine,
    settings: Settings,
    location: str,
    *,
    format: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
    fetcher: Fetcher | None = None,
) -> IngestReport:
    """Read a path, '-' or URL and ingest it.

    A URL is fetched like a polled source (retries, per-host limit). Named with a `source`,
    it is fetched conditionally with that source's ETag / Last-Modified, which are kept
    after a successful ingest; a 304 gives a report with `not_modified` set and changes
    nothing else. `fetcher` is for tests.
    """
    now = now or utcnow()
    url = is_url(location)
    source_id = source_store.ensure_source(engine, source, location=location if url else "") if source else None
    if not url:
        data = read_local(location, cap=settings.max_snapshot_bytes)
        return ingest_bytes(engine, data, input=location, format=format, source_id=source_id, now=now,
                            max_bytes=settings.max_snapshot_bytes)
    row = None
    if source_id:
        with engine.connect() as conn:
            row = source_store.by_id(conn, source_id)
    with fetcher or Fetcher.for_settings(settings) as fetcher:
        fetched = fetcher.get(location, etag=row.etag if row else None, last_modified=row.last_modified if row else None)
    if fetched.data is None:
        report = IngestReport(input=location, format=format or (row.format if row else None) or "", papers=0, new=0, updated=0,
                              unchanged=0, duplicate_snapshot=False, not_modified=True)
    else:
        report = ingest_bytes(engine, fetched.data, input=location, format=format, source_id=source_id, now=now,
                              max_bytes=settings.max_snapshot_bytes)
    if row is not None:
        with write_transaction(engine) as conn:
            source_store.record_check(conn, source_id, now=now, succeeded=True, error=None,
                                      validators=(fetched.etag, fetched.last_modified))
    return report
