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
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from digest.config import Settings
from digest.jobs.common import utcnow
from digest.errors import DigestError
from digest.jobs.planning import PlanReport, plan_unless_planning
from digest.jobs.mailbox import check_mailbox, mailbox_configured

log = logging.getLogger("digest.scheduler")

PLAN_EVERY_SECONDS = 60
POLL_EVERY_SECONDS = 60
MAILBOX_EVERY_SECONDS = 300  # bounces and complaints are not urgent; IMAP servers dislike hammering


def plan_job(engine: Engine, clock: Callable[[], datetime] = utcnow) -> PlanReport | None:
    """Plan what is due now, if no other process is planning. Returns None when it was."""
    return plan_unless_planning(engine, clock())


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
