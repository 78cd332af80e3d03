"""Ingest use case: parse, diff and store one snapshot."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.diff import dedupe, diff_snapshot
from digest.jobs.common import gc_paused, utcnow
from digest.models import IngestReport, ParsedSnapshot
from digest.config import Settings
from digest.sources import parse_snapshot
from digest.sources.fetch import fetch_url, is_url, read_input
from digest.store import sources as source_store
from digest.store import papers as paper_store
from digest.store.db import write_transaction


def _duplicate(input: str, row) -> IngestReport:
    return IngestReport(
        input=input,
        format=row.format,
        papers=row.paper_count,
        new=0,
        updated=0,
        unchanged=0,
        duplicate_snapshot=True,
        listing_day=row.listing_day,
        snapshot_id=row.id,
    )


def ingest_bytes(
    engine: Engine,
    data: bytes,
    *,
    input: str,
    format: str | None = None,
    source_id: int | None = None,
    now: datetime | None = None,
    today: date | None = None,
) -> IngestReport:
    """Parse, diff and store one snapshot in one transaction; safe to re-run.

    The same content ingested again is recognised by its SHA-256 and changes nothing. Raises
    SnapshotError (naming `input`) for unreadable content, leaving the database untouched.
    """
    now = now or utcnow()
    sha256 = hashlib.sha256(data).hexdigest()
    with engine.connect() as conn:
        seen = paper_store.find_snapshot(conn, sha256)
    if seen is not None:
        return _duplicate(input, seen)
    try:
        with gc_paused():
            parsed = parse_snapshot(data, input=input, format=format, today=today)
            return _store(engine, parsed, input=input, sha256=sha256, source_id=source_id, now=now)
    except IntegrityError:
        # Another process stored the same content between our check and our insert.
        with engine.connect() as conn:
            seen = paper_store.find_snapshot(conn, sha256)
        if seen is None:
            raise
        return _duplicate(input, seen)


def _store(
    engine: Engine, parsed: ParsedSnapshot, *, input: str, sha256: str, source_id: int | None, now: datetime
) -> IngestReport:
    unique = dedupe(parsed.papers)
    with write_transaction(engine) as conn:
        known = paper_store.load_known(conn, unique)
        diff = diff_snapshot(unique, known)
        snapshot_id = paper_store.save_snapshot(
            conn, parsed=parsed, diff=diff, input=input, sha256=sha256, now=now, source_id=source_id
        )
    return IngestReport(
        input=input,
        format=parsed.format,
        papers=len(diff.sightings),
        new=len(diff.new),
        updated=len(diff.updated),
        unchanged=len(diff.unchanged),
        duplicate_snapshot=False,
        listing_day=parsed.listing_day,
        snapshot_id=snapshot_id,
        warnings=list(parsed.warnings),
    )


def ingest_location(
    engine: Engine,
    settings: Settings,
    location: str,
    *,
    format: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Read a path, '-' or URL and ingest it. A URL named with a `source` is fetched
    conditionally with that source's ETag / Last-Modified, which are kept after a successful
    ingest; a 304 gives a report with `not_modified` set and changes nothing else."""
    now = now or utcnow()
    source_id = source_store.ensure_source(engine, source, location=location if is_url(location) else "") if source else None
    if not (source_id and is_url(location)):
        data = read_input(location, cap=settings.max_snapshot_bytes, timeout=settings.fetch_timeout)
        return ingest_bytes(engine, data, input=location, format=format, source_id=source_id, now=now)
    with engine.connect() as conn:
        row = source_store.by_id(conn, source_id)
    fetched = fetch_url(location, cap=settings.max_snapshot_bytes, timeout=settings.fetch_timeout,
                        etag=row.etag, last_modified=row.last_modified)
    if fetched.data is None:
        report = IngestReport(input=location, format=format or row.format or "", papers=0, new=0, updated=0,
                              unchanged=0, duplicate_snapshot=False, not_modified=True)
    else:
        report = ingest_bytes(engine, fetched.data, input=location, format=format, source_id=source_id, now=now)
    with write_transaction(engine) as conn:
        source_store.record_check(conn, source_id, now=now, succeeded=True, error=None,
                                  validators=(fetched.etag, fetched.last_modified))
    return report
