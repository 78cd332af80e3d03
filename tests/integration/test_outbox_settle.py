"""Settling through the senders' held SQLite connection (`store.db.SqliteWriter`) writes what
settling through a SQLAlchemy Connection writes, for every kind of outcome."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from digest.enums import DeliveryKind, DeliveryStatus
from digest.jobs import add_subscriber, ingest_bytes
from digest.jobs.planning import plan_digests
from digest.store import outbox
from digest.store.db import SqliteWriter, open_engine, write_transaction
from digest.store.outbox import Settlement
from digest.store.tables import deliveries, subscribers
from digest.subscribers import spec_from

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PEOPLE = [f"p{n}@example.org" for n in range(8)]


@pytest.fixture
def planned(tmp_path, samples):
    """A SQLite database with one claimed digest per person."""
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    engine = open_engine(url)
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), input="plain", now=NOW)
    for address in PEOPLE:
        add_subscriber(engine, spec_from({"email": address, "interests": "normalization OR pruning", "status": "active"}),
                       now=NOW - timedelta(days=1))
    assert plan_digests(engine, NOW, force=True).planned == len(PEOPLE)
    with write_transaction(engine) as conn:
        claimed = outbox.claim(conn, owner="test", now=NOW, lease=timedelta(minutes=5), limit=50)
    engine.dispose()
    return tmp_path / "plain.db", claimed


def _outcomes(claimed) -> list[Settlement]:
    """Every kind of ending, and one subscriber bounced three times in one batch."""
    def settlement(row, status, **extra):
        return Settlement(delivery_id=row.id, subscriber_id=row.subscriber_id, kind=DeliveryKind(row.kind),
                          cursor_to=row.cursor_to, status=status, **extra)

    first, second, third, fourth, fifth, *_ = claimed
    bounced = [settlement(row, DeliveryStatus.FAILED, code=550, error="no such user", hard_bounce=True)
               for row in (fifth, fifth, fifth)]
    return [settlement(first, DeliveryStatus.SENT, code=250, error="ok"),
            settlement(second, DeliveryStatus.SENT, code=250, error="ok", maybe_delivered=True),
            settlement(third, DeliveryStatus.QUEUED, code=451, error="later", next_attempt_at=NOW + timedelta(minutes=3),
                       maybe_delivered=True),
            settlement(fourth, DeliveryStatus.SKIPPED, error="not sent: subscriber is paused"),
            *bounced]


def _state(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        return (sorted(tuple(row) for row in conn.execute(select(deliveries))),
                sorted(tuple(row) for row in conn.execute(select(subscribers))))


def test_settling_on_the_held_sqlite_connection_writes_what_a_connection_writes(planned, tmp_path):
    path, claimed = planned
    shutil.copy(path, tmp_path / "copy.db")
    outcomes = _outcomes(claimed)
    plain = open_engine(f"sqlite:///{path}")
    with write_transaction(plain) as conn:
        outbox.settle(conn, outcomes, now=NOW)
    held = open_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    writer = SqliteWriter(held)
    with writer.begin() as conn:
        outbox.settle(conn, outcomes, now=NOW)
    writer.close()
    assert _state(held) == _state(plain)
    with held.connect() as conn:
        bounced = conn.execute(select(subscribers.c.status, subscribers.c.hard_bounces)
                               .where(subscribers.c.id == claimed[4].subscriber_id)).one()
    assert tuple(bounced) == ("bounced", 3)
    plain.dispose()
    held.dispose()


def test_the_held_sqlite_connection_rolls_back_on_error_and_raises_sqlalchemy_errors(planned):
    path, claimed = planned
    engine = open_engine(f"sqlite:///{path}")
    before = _state(engine)
    writer = SqliteWriter(engine)
    with pytest.raises(RuntimeError), writer.begin() as conn:
        outbox.settle(conn, _outcomes(claimed), now=NOW)
        raise RuntimeError("the sender failed half-way")
    assert _state(engine) == before
    with pytest.raises(SQLAlchemyError), writer.begin() as conn:
        conn.exec_driver_sql("UPDATE no_such_table SET x = 1", ())
    with writer.begin() as conn:  # still usable
        outbox.settle(conn, _outcomes(claimed)[:1], now=NOW)
    writer.close()
    writer.close()
    assert _state(engine) != before
    engine.dispose()


def test_the_held_connection_is_for_sqlite_only():
    never_connected = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError):
        SqliteWriter(never_connected)


def test_a_claim_on_sqlite_decodes_rows_as_sqlalchemy_does(planned, tmp_path):
    """The claim's rows, decoded by hand on SQLite, equal the same columns read through
    SQLAlchemy's types (JSON items, UTC datetimes), in due order."""
    path, claimed = planned
    engine = open_engine(f"sqlite:///{path}")
    with write_transaction(engine) as conn:  # a lapsed lease and a retry, so the order is not by id alone
        conn.execute(deliveries.update().where(deliveries.c.id == claimed[2].id).values(
            status="queued", next_attempt_at=NOW - timedelta(minutes=3)))
        conn.execute(deliveries.update().where(deliveries.c.status == "sending").values(
            lease_expires_at=NOW - timedelta(seconds=1)))
    with engine.connect() as conn:
        expected = [tuple(row) for row in conn.execute(
            select(*outbox.CLAIMED_COLUMNS).order_by(deliveries.c.next_attempt_at, deliveries.c.id))]
    with write_transaction(engine) as conn:
        again = outbox.claim(conn, owner="again", now=NOW, lease=timedelta(minutes=5), limit=50)
    got = [(r.id, r.subscriber_id, r.kind, r.period, r.items, r.cursor_to, r.attempts, r.next_attempt_at, r.created_at)
           for r in again]
    assert got == expected and len(got) == len(PEOPLE)
    assert got[0][0] == claimed[2].id and got[0][7].tzinfo is not None and isinstance(got[0][4], list)
    engine.dispose()
