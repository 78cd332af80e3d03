"""APScheduler wiring: triggers -> jobs. No pipeline logic lives here.

`digest serve` runs one AsyncIOScheduler with two jobs — plan the digests that are due
(every minute) and poll the sources that are due (every minute; each source keeps its own
interval) — and a third when DIGEST_IMAP_URL is set, reading the mailbox every 5 minutes,
next to the web app and a Dispatcher draining the outbox. Misfires after
downtime are coalesced into one run, and planning itself only ever plans the latest due
period, so a server down from 06:00 to 09:00 sends the 07:00 digests once when it is back.
Only one process plans at a time: a PostgreSQL advisory lock (SQLite is single-host; the
outbox's unique (subscriber, period) key makes a double plan harmless anyway).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, text

from digest.config import Settings
from digest.jobs.common import utcnow
from digest.errors import DigestError
from digest.jobs.planning import PlanReport, plan_digests
from digest.jobs.mailbox import check_mailbox, mailbox_configured

log = logging.getLogger("digest.scheduler")

PLAN_LOCK = 0x5D16E58  # any constant shared by every process of this app
PLAN_EVERY_SECONDS = 60
POLL_EVERY_SECONDS = 60
MAILBOX_EVERY_SECONDS = 300  # bounces and complaints are not urgent; IMAP servers dislike hammering


@contextmanager
def planning_lock(engine: Engine) -> Iterator[bool]:
    """Yields True when this process may plan now (always on SQLite)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        acquired = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PLAN_LOCK}).scalar()
        conn.commit()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PLAN_LOCK})
                conn.commit()


def plan_job(engine: Engine, clock: Callable[[], datetime] = utcnow) -> PlanReport | None:
    """Plan what is due now, if no other process is planning. Returns None when it was."""
    with planning_lock(engine) as mine:
        if not mine:
            log.info("another process is planning; skipped")
            return None
        report = plan_digests(engine, clock())
    if report.planned or report.skipped_empty:
        log.info("planned %d digests (%d empty, skipped)", report.planned, report.skipped_empty)
    return report


def poll_job(engine: Engine, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
    """Poll every source whose interval has passed (each failure is recorded on its source)."""
    from digest.jobs.polling import poll_due

    for report in poll_due(engine, settings, now=clock()):
        log.info("ingested %s: %d new, %d updated", report.input, report.new, report.updated)


def mailbox_job(engine: Engine, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
    """Read the mailbox once (bounces, complaints, mailto unsubscribes); a failure is logged."""
    try:
        report = check_mailbox(engine, settings, now=clock())
    except DigestError as err:  # an unreachable mailbox must not stop planning or polling
        log.warning("mailbox: %s", err)
        return
    if report.messages:
        log.info("mailbox: %s", report.as_dict())


def build_scheduler(engine: Engine, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                    poll_sources: bool = True) -> AsyncIOScheduler:
    """A scheduler (not started) with the plan and poll jobs.

    Both jobs run in the scheduler's thread pool (they are blocking database work), one
    instance at a time, and coalesce missed runs into one.
    """
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    once = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 24 * 3600,
            "next_run_time": datetime.now(timezone.utc)}
    scheduler.add_job(plan_job, IntervalTrigger(seconds=PLAN_EVERY_SECONDS), args=[engine, clock], id="plan",
                      name="plan due digests", **once)
    if poll_sources:
        scheduler.add_job(poll_job, IntervalTrigger(seconds=POLL_EVERY_SECONDS), args=[engine, settings, clock],
                          id="sources", name="poll due sources", **once)
    if mailbox_configured(settings):  # a malformed DIGEST_IMAP_URL fails here, at start
        scheduler.add_job(mailbox_job, IntervalTrigger(seconds=MAILBOX_EVERY_SECONDS), args=[engine, settings, clock],
                          id="mailbox", name="read the mailbox", **once)
    return scheduler
