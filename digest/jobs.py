"""The use cases: the only module that combines pipeline steps.

Every dependency (engine, settings, clock, sender) is a parameter, so the CLI, the
scheduler, the web app and the tests drive the same code.
"""

from __future__ import annotations

import gc
import hashlib
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Iterator

from sqlalchemy import Engine, Row
from sqlalchemy.exc import IntegrityError

from digest.diff import dedupe, diff_snapshot
from digest.models import IngestReport, ParsedSnapshot
from digest.sources import parse_snapshot
from digest.store import outbox
from digest.store import papers as paper_store
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.subscriber_io import ImportPlan, plan_import, read_records
from digest.subscribers import SubscriberSpec, email_key, spec_from


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around batch work.

    A big ingest or send run allocates millions of acyclic objects; the collector would
    rescan the growing heap again and again (a third of a 100k-paper ingest). Reference
    counting still frees everything; the collector runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


# ---- subscribers -------------------------------------------------------------------------


def add_subscriber(engine: Engine, spec: SubscriberSpec, *, now: datetime | None = None) -> Row:
    """Store a new subscriber; a pending one also gets a confirmation email queued.

    Raises DuplicateSubscriber when the address exists (in any letter case).
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = subscriber_store.add(conn, spec, now=now)
        if row.status == "pending":
            outbox.queue_confirmation(conn, row.id, now=now)
    return row


def update_subscriber(engine: Engine, email: str, fields: dict, *, now: datetime | None = None) -> Row:
    """Change some fields of a subscriber, validated like a new one. Returns the new row."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = subscriber_store.get(conn, email)
        merged = {name: getattr(row, name) for name in SubscriberSpec.model_fields} | fields
        spec = spec_from(merged)
        changed = {k: v for k, v in spec.model_dump().items() if getattr(row, k) != v}
        if changed:
            subscriber_store.change(conn, row.id, changed, now=now)
        return subscriber_store.by_id(conn, row.id)


def set_status(engine: Engine, email: str, status: str, *, now: datetime | None = None) -> Row:
    return update_subscriber(engine, email, {"status": status}, now=now)


def remove_subscriber(engine: Engine, email: str) -> Row:
    """Delete the subscriber and all their data (deliveries included)."""
    with write_transaction(engine) as conn:
        row = subscriber_store.get(conn, email)
        subscriber_store.remove(conn, row.id)
    return row


def plan_subscriber_import(engine: Engine, data: bytes, *, name: str) -> ImportPlan:
    """Read and check an import file against the stored subscribers; writes nothing."""
    records = read_records(data, name=name)
    with engine.connect() as conn:
        existing = subscriber_store.existing_keys(conn, (email_key(str(r.fields.get("email") or "")) for r in records))
    with gc_paused():
        return plan_import(records, existing)


def apply_subscriber_import(engine: Engine, plan: ImportPlan, *, now: datetime | None = None) -> None:
    """Write a checked plan in one transaction (the caller refuses plans with errors)."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        cursor = subscriber_store.initial_cursor(conn, now)
        rows = [
            subscriber_store.new_row(p.spec, now=p.kept.get("created_at", now), cursor=cursor,
                                     feed_token=p.kept.get("feed_token")) | _kept_stamps(p.kept)
            for p in plan.create
        ]
        subscriber_store.insert_many(conn, rows)
        existing = subscriber_store.existing_keys(conn, (email_key(p.spec.email) for p, _ in plan.update))
        for planned, changed in plan.update:
            subscriber_store.change(conn, existing[email_key(planned.spec.email)].id, changed, now=now)


def _kept_stamps(kept: dict) -> dict:
    return {"confirmed_at": kept["confirmed_at"]} if "confirmed_at" in kept else {}
