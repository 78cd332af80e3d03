"""A claim reads only the rows it takes, however many are queued.

With both claimable branches OR-ed in one query, PostgreSQL read and sorted every queued row
on each claim (a sequential scan and an on-disk sort: 195 ms a claim at 241,000 queued rows,
653 s for the 250,000-subscriber scale-out run); SQLite did the same with a temporary B-tree.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, text

from digest.enums import DeliveryKind
from digest.store import outbox
from digest.store.db import write_transaction
from digest.store.subscribers import new_row
from digest.store.tables import deliveries, subscribers
from digest.subscribers import SubscriberSpec

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
QUEUED = 5_000
LIMIT = 64


def _queue(engine) -> None:
    people = [new_row(SubscriberSpec(email=f"p{n}@example.org", interests="pruning", status="active"), now=NOW, cursor=0)
              for n in range(QUEUED)]
    with write_transaction(engine) as conn:
        conn.execute(insert(subscribers), people)
        ids = [row[0] for row in conn.execute(text("SELECT id FROM subscribers ORDER BY id"))]
        # Every row due at the same instant, as a planning batch writes them.
        conn.execute(insert(deliveries), [outbox.new_row(sid, DeliveryKind.DIGEST, "2026-12-07", items=[],
                                                         cursor_to=0, now=NOW - timedelta(minutes=1)) for sid in ids])
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE deliveries"))


def _claim_on_sqlite_plan(conn) -> list[str]:
    """SQLite's plan for the claim's row choice (EXPLAIN QUERY PLAN needs no real values)."""
    compiled = outbox._due(LIMIT, False, "sqlite").compile(conn)
    return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", (None,) * len(compiled.positiontup))]


def _rows_read_in_transaction(conn) -> int:
    """Rows of `deliveries` this PostgreSQL transaction has read so far, by scans and index fetches."""
    return conn.execute(text("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                             "WHERE relid = 'deliveries'::regclass")).scalar()


def test_a_claim_reads_only_the_rows_it_takes(engine):
    _queue(engine)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "sqlite":
            steps = _claim_on_sqlite_plan(conn)
            assert not [step for step in steps if step.startswith("SCAN deliveries")], steps
            assert any("USING INDEX ix_deliveries_due" in step for step in steps), steps
        else:
            # Choosing the rows (and locking them) reads the first LIMIT of the index; how
            # the UPDATE then finds them by key is the planner's choice for the table's size.
            chosen = conn.execute(outbox._due(LIMIT, False, "postgresql"), {"claim_now": NOW}).scalars().all()
            assert len(chosen) == LIMIT
            assert _rows_read_in_transaction(conn) <= 2 * LIMIT
    with write_transaction(engine) as conn:
        claimed = outbox.claim(conn, owner="test", now=NOW, lease=timedelta(minutes=5), limit=LIMIT)
    assert [row.id for row in claimed] == sorted(row.id for row in claimed)
    assert len(claimed) == LIMIT
