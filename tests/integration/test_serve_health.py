"""`digest serve`'s background parts report to /healthz: a crashing sender or a failing
scheduler job turns it red, is logged once with its cause, and recovers (issue 15 item 5)."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from digest.cli.serve import keep_sending, watch_jobs
from digest.config import Settings
from digest.health import Health
from digest.jobs.dispatch import dispatcher_for
from tests.fakes import MemorySender

KEY = "health-test-key-0123456789abcdefghijklmnop"


def _rename(engine, old: str, new: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_crashing_sender_is_red_logged_once_restarted_and_green_again(engine, database_url, caplog):
    settings = Settings(database_url=database_url, secret_key=KEY, from_="Digest <digest@digest-fixture.net>")
    health, seen = Health(), []

    async def scenario() -> None:
        stop = asyncio.Event()
        _rename(engine, "deliveries", "deliveries_gone")  # the outbox cannot be read: every claim raises
        task = asyncio.create_task(keep_sending(lambda: dispatcher_for(engine, settings, MemorySender()), stop, health,
                                                recovered_after=0.6, delays=(0.05, 0.1)))
        await asyncio.sleep(0.8)  # several crashes and restarts
        seen.append(health.failing())
        _rename(engine, "deliveries_gone", "deliveries")
        await asyncio.sleep(1.5)  # a restarted sender has now run fine for longer than 0.6 s
        seen.append(health.failing())
        stop.set()
        await asyncio.wait_for(task, 10)

    with caplog.at_level(logging.INFO, logger="digest.health"):
        asyncio.run(scenario())
    assert list(seen[0]) == ["sender"] and "deliveries" in seen[0]["sender"]
    assert seen[1] == {}
    errors = [r for r in caplog.records if r.name == "digest.health" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # once, with the traceback
    assert any("sender recovered" in r.getMessage() for r in caplog.records)


def test_a_failing_scheduler_job_is_red_until_it_runs_fine(caplog):
    health, runs, seen = Health(), [], []

    def flaky() -> None:
        runs.append(1)
        if len(runs) <= 3:
            raise RuntimeError("database is locked")

    async def scenario() -> None:
        scheduler = AsyncIOScheduler()
        scheduler.add_job(flaky, IntervalTrigger(seconds=0.2), id="plan", max_instances=1)
        watch_jobs(scheduler, health)
        scheduler.start()
        while len(runs) < 2:
            await asyncio.sleep(0.05)
        seen.append(health.failing())
        while len(runs) < 5:
            await asyncio.sleep(0.05)
        seen.append(health.failing())
        scheduler.shutdown(wait=False)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert seen == [{"scheduler:plan": "RuntimeError: database is locked"}, {}]
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1 and "scheduler:plan failed: RuntimeError: database is locked" in failures[0].getMessage()
