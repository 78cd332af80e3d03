"""Planning: which digests are due, ranked once, written as outbox rows.

`plan_digests` ranks every due subscriber against one index of the candidate papers and
writes one outbox row per (subscriber, period) under a unique key, so planning twice
(a re-run, a second scheduler) writes nothing twice. `preview_digest` and
`queue_test_digest` rank one subscriber the same way. Sending is `jobs.dispatch`'s job.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine

from digest.enums import DeliveryKind, DeliveryStatus
from digest.jobs.common import gc_paused, utcnow
from digest.jobs.plan_report import PlanReport
from digest.jobs.relevance import RunRanking
from digest.models import RankedPaper, Subscriber
from digest.ranking import PaperIndex, build_index
from digest.schedule import current_period, due_period
from digest.store import outbox
from digest.store import papers as paper_store
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.locks import try_advisory_lock

__all__ = ["MAX_LOOKBACK", "PlanReport", "plan_digests", "plan_unless_planning", "preview_digest", "queue_test_digest"]

log = logging.getLogger("digest.planning")

# A digest never reaches further back than this, however stale a cursor is.
MAX_LOOKBACK = timedelta(days=30)
PLAN_LOCK = 0x5D16E58  # any constant shared by every process of this app

Due = list[tuple[Subscriber, str]]  # (subscriber, period) pairs of one batch


def plan_digests(
    engine: Engine,
    now: datetime | None = None,
    *,
    force: bool = False,
    only: str | None = None,
    batch_size: int = 5000,
    first_batch: int | None = None,
    write: bool = True,
) -> PlanReport:
    """Insert one outbox row per due (subscriber, period); safe to run any number of times.

    `force` treats every active subscriber as due for their current period (`run --now`).
    A digest with no papers is recorded as skipped (and the cursor moves on) unless the
    subscriber asked for empty digests. With `write=False` nothing is written and the rows
    that would be are returned in `report.rows` (a dry run). With `first_batch`, batches start
    at that size and grow to `batch_size`, so the first rows are written sooner (senders wait
    for them).
    """
    now = now or utcnow()
    report = PlanReport()
    ranking, newest = None, 0  # built on the first due batch: most minutes nobody is due
    with gc_paused(), _Writer(engine if write else None, report) as writer:
        for batch in _batches_of_due(engine, now, force=force, only=only, size=batch_size, first=first_batch,
                                     report=report):
            if ranking is None:
                index, newest = _candidate_index(engine, now)
                ranking = RunRanking(engine, index, now=now)
                report.candidates = len(index)
            _plan_batch(ranking, batch, newest=newest, now=now, report=report, writer=writer)
            # The collector is paused, but cycles made while ranking a batch would pile up (reading
            # profiles from numpy's .npz made ~90 MB per 10,000 subscribers with likes; the raw
            # format makes fewer). Collecting the batch's young objects costs little and keeps
            # memory flat.
            gc.collect(0)
    return report


class _Writer:
    """Writes each planned batch in one thread while the next batch is ranked.

    At most one batch is in flight (memory stays one batch), and leaving the block waits
    for it, so every row is written when `plan_digests` returns and any error is raised
    there. Waiting for SQLite's write lock (senders claim and settle meanwhile) then costs
    the planner no ranking time. Without an engine (a dry run) rows go to `report.rows`.
    """

    def __init__(self, engine: Engine | None, report: PlanReport):
        self.engine, self.report = engine, report
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="plan-writer") if engine is not None else None
        self.pending: Future | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def write(self, rows: list[dict[str, Any]], skipped: dict[int, int]) -> None:
        if self.pool is None:
            self.report.rows.extend(rows)
            return
        self._wait()
        self.pending = self.pool.submit(self._write, rows, skipped)

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _write(self, rows: list[dict[str, Any]], skipped: dict[int, int]) -> None:
        with write_transaction(self.engine) as conn:
            outbox.insert_planned(conn, rows)
            outbox.advance_cursors(conn, skipped)


def plan_unless_planning(engine: Engine, now: datetime) -> PlanReport | None:
    """`plan_digests` now, unless another process is planning (PostgreSQL advisory lock;
    SQLite is single-host): then None. The scheduler's job, run every minute."""
    with try_advisory_lock(engine, PLAN_LOCK) as mine:
        if not mine:
            log.info("another process is planning; skipped")
            return None
        report = plan_digests(engine, now)
    if report.planned or report.skipped_empty:
        log.info("planned %d digests (%d empty, skipped)", report.planned, report.skipped_empty)
    return report


def _candidate_index(engine: Engine, now: datetime) -> tuple[PaperIndex, int]:
    """One index over every paper some active subscriber has not had yet (30 days at most)."""
    with engine.connect() as conn:
        floor = max(subscriber_store.min_active_cursor(conn), paper_store.first_id_since(conn, now - MAX_LOOKBACK))
        candidates = paper_store.papers_after(conn, floor)
        newest = paper_store.max_paper_id(conn)
    return build_index(candidates), newest


def _batches_of_due(engine: Engine, now: datetime, *, force: bool, only: str | None, size: int,
                    first: int | None, report: PlanReport) -> Iterator[Due]:
    """Batches of due subscribers not planned yet, each cursor moved past digests still pending."""
    with engine.connect() as conn:
        for batch in subscriber_store.active_batches(conn, only=only, size=size, first=first):
            due = [(s, period) for s in batch if (period := _period(s, now, force)) is not None]
            report.due += len(due)
            if not due:
                continue
            taken = outbox.planned(conn, ((s.id, period) for s, period in due))
            due = _fresh_keys(conn, due, taken, now)
            before = len(due)
            due = [(s, period) for s, period in due if (s.id, period) not in taken]
            report.already_planned += before - len(due)
            if not due:
                continue
            promised = outbox.pending_cursors(conn, [s.id for s, _ in due])
            yield [(replace(s, cursor=max(s.cursor, promised.get(s.id, 0))), period) for s, period in due]


def _period(subscriber: Subscriber, now: datetime, force: bool) -> str | None:
    """The period to plan for `subscriber` now, or None. A stored zone this host's time zone
    database does not know (a row written on a host with newer tzdata) skips that subscriber,
    with a warning, rather than stopping everyone's digests; their cursor stays, so nothing is
    lost once the zone is known or changed."""
    try:
        return current_period(subscriber, now) if force else due_period(subscriber, now)
    except (ZoneInfoNotFoundError, ValueError) as err:
        log.warning("subscriber %s not planned: time zone %r is unknown here (%s); update tzdata or set "
                    "another with `digest subscribers update EMAIL --timezone ZONE`", subscriber.id,
                    subscriber.timezone, err)
        return None


def _fresh_keys(conn: Connection, due: Due, taken: dict[tuple[int, str], datetime], now: datetime) -> Due:
    """`due` with a new key for each slot whose period key a previous schedule already used.

    A period is a local date or ISO week, so after a change of zone westwards (or of weekday
    to later in the same week) the new schedule's next slot can carry the key of a digest the
    old one sent: it would count as planned and be lost. Such a row was made before the
    subscriber's `active_since` (the floor a schedule change sets), and the slot is genuinely
    due after it: that slot is planned as "<period>~<floor's epoch seconds>", the same key in
    every process and on every run, so it is still planned once. Adds to `taken` whether
    each new key was planned already (one more query, only when there is such a slot)."""
    if not taken:
        return due
    fresh, renamed = [], []
    for s, period in due:
        made = taken.get((s.id, period))
        if (made is not None and s.active_since is not None and made < s.active_since
                and due_period(s, now) == period):
            period = f"{period}~{int(s.active_since.timestamp())}"
            renamed.append((s.id, period))
        fresh.append((s, period))
    if renamed:
        taken.update(outbox.planned(conn, renamed))
    return fresh


def _items(ranked: list[RankedPaper]) -> list[list]:
    """A digest's papers as stored on its outbox row: [paper id, score, matched terms], plus the
    id of the liked paper it resembles when similarity picked it."""
    return [[r.paper.id, r.score, list(r.matched)] + ([r.because.id] if r.because is not None else [])
            for r in ranked]


def _plan_batch(ranking: RunRanking, batch: Due, *, newest: int, now: datetime, report: PlanReport,
                writer: _Writer) -> None:
    periods = {s.id: period for s, period in batch}
    rows, skipped = [], {}
    for subscriber, ranked in ranking.rank([s for s, _ in batch]):
        items = _items(ranked)
        cursor_to = max(newest, subscriber.cursor)
        status = DeliveryStatus.QUEUED if items or subscriber.send_empty else DeliveryStatus.SKIPPED
        rows.append(outbox.new_row(subscriber.id, DeliveryKind.DIGEST, periods[subscriber.id], items=items,
                                   cursor_to=cursor_to, now=now, status=status))
        if status is DeliveryStatus.SKIPPED:
            skipped[subscriber.id] = cursor_to
    writer.write(rows, skipped)
    report.planned += len(rows) - len(skipped)
    report.skipped_empty += len(skipped)


def preview_digest(engine: Engine, email: str) -> tuple[Subscriber, list[RankedPaper]]:
    """What `email`'s next digest would hold if it were planned now (writes nothing)."""
    now = utcnow()
    with engine.connect() as conn:
        subscriber = subscriber_store.to_subscriber(subscriber_store.get(conn, email))
        cursor = max(subscriber.cursor, outbox.pending_cursors(conn, [subscriber.id]).get(subscriber.id, 0))
        floor = max(cursor, paper_store.first_id_since(conn, now - MAX_LOOKBACK))
        candidates = paper_store.papers_after(conn, floor)
    subscriber = replace(subscriber, cursor=cursor)
    _, ranked = next(RunRanking(engine, build_index(candidates), load_liked=True).rank([subscriber], snippets=True))
    return subscriber, ranked


def queue_test_digest(engine: Engine, email: str, *, now: datetime | None = None) -> int:
    """Plan a one-off digest for `email` now (period "test-<time>"), whatever their schedule."""
    now = now or utcnow()
    subscriber, ranked = preview_digest(engine, email)
    row = outbox.new_row(subscriber.id, DeliveryKind.DIGEST, f"test-{now.isoformat(timespec='seconds')}",
                         items=_items(ranked), cursor_to=subscriber.cursor, now=now)
    with write_transaction(engine) as conn:
        outbox.insert_planned(conn, [row])
    return len(ranked)
