"""Subscriber use cases: add, change, remove, import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Row

from digest.jobs.common import gc_paused, utcnow
from digest.store import outbox
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.subscriber_io import ImportPlan, plan_import, read_records
from digest.subscribers import SubscriberSpec, email_key, spec_from

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
