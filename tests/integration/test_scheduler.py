"""The planner driven by a controllable clock: local hours, DST, weekly, downtime, locking."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from digest.config import load_settings
from digest.jobs import add_subscriber, ingest_bytes
from digest.scheduler import build_scheduler, plan_job
from digest.store.locks import try_advisory_lock
from digest.store.tables import deliveries, subscribers
from digest.subscribers import spec_from
from tests.fakes import FakeClock

STEP = timedelta(minutes=30)
# 23 Oct - 3 Nov 2026: Europe leaves summer time on 25 Oct, the US on 1 Nov; Japan never.
START = datetime(2026, 10, 23, 0, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 3, 0, 0, tzinfo=timezone.utc)
PEOPLE = {
    "tokyo@example.org": ("Asia/Tokyo", 7),
    "berlin@example.org": ("Europe/Berlin", 8),
    "la@example.org": ("America/Los_Angeles", 6),
}


def add_people(engine, people: dict, *, joined: datetime, **extra) -> None:
    for address, (zone, hour) in people.items():
        fields = {"email": address, "timezone": zone, "send_hour": hour, "status": "active", "send_empty": True, **extra}
        add_subscriber(engine, spec_from(fields), now=joined)


def planned_rows(engine) -> dict[str, list]:
    found = defaultdict(list)
    with engine.connect() as conn:
        query = select(subscribers.c.email, deliveries.c.period, deliveries.c.created_at).join(
            subscribers, subscribers.c.id == deliveries.c.subscriber_id).where(deliveries.c.kind == "digest")
        for email, period, created_at in conn.execute(query.order_by(deliveries.c.id)):
            found[email].append((period, created_at))
    return found


def run_planner(engine, clock: FakeClock, until: datetime, *, skip: tuple[datetime, datetime] | None = None) -> None:
    while clock.now < until:
        if not (skip and skip[0] <= clock.now < skip[1]):
            plan_job(engine, clock)
        clock.now += STEP


def test_each_subscriber_gets_one_digest_per_local_day_at_their_hour_across_dst(engine, samples):
    clock = FakeClock(START)
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), input="plain", now=START)
    add_people(engine, PEOPLE, joined=START)
    run_planner(engine, clock, END)
    rows = planned_rows(engine)
    for address, (zone, hour) in PEOPLE.items():
        local = ZoneInfo(zone)
        periods = [period for period, _ in rows[address]]
        assert len(periods) == len(set(periods)), f"{address} got a period twice"
        first = START.astimezone(local).date() + timedelta(days=0 if START.astimezone(local).hour < hour else 1)
        last = (END - STEP).astimezone(local).date()
        if (END - STEP).astimezone(local).hour < hour:
            last -= timedelta(days=1)
        expected = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        assert periods == expected, address
        for period, created_at in rows[address]:
            at = created_at.astimezone(local)
            assert at.date() == date.fromisoformat(period)
            assert at.hour == hour and at.minute < STEP.seconds // 60, (address, period, at)


def test_weekly_subscriber_gets_one_digest_per_week_on_their_day(engine):
    clock = FakeClock(START)
    add_people(engine, {"weekly@example.org": ("Europe/Berlin", 9)}, joined=START,
               frequency="weekly", weekday="friday")
    run_planner(engine, clock, END)
    rows = planned_rows(engine)["weekly@example.org"]
    assert [period for period, _ in rows] == ["2026-W43", "2026-W44"]
    for _, created_at in rows:
        local = created_at.astimezone(ZoneInfo("Europe/Berlin"))
        assert local.weekday() == 4 and local.hour == 9


def test_downtime_over_the_send_hour_sends_once_when_back(engine):
    day = datetime(2026, 11, 10, 0, 0, tzinfo=timezone.utc)  # Berlin is UTC+1 in November
    clock = FakeClock(day)
    add_people(engine, {"berlin@example.org": ("Europe/Berlin", 7)}, joined=day)
    down = (day.replace(hour=5), day.replace(hour=8))  # 06:00-09:00 Berlin time
    run_planner(engine, clock, day + timedelta(hours=20), skip=down)
    rows = planned_rows(engine)["berlin@example.org"]
    assert [period for period, _ in rows] == ["2026-11-10"]
    assert rows[0][1] == day.replace(hour=8)  # planned the moment the planner was back


def test_a_subscriber_who_joins_after_today_s_hour_starts_tomorrow(engine):
    joined = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
    clock = FakeClock(joined)
    add_people(engine, {"late@example.org": ("UTC", 7)}, joined=joined)
    run_planner(engine, clock, joined + timedelta(days=1))
    assert [period for period, _ in planned_rows(engine)["late@example.org"]] == ["2026-11-11"]


def test_concurrent_planners_plan_each_digest_once(engine):
    now = datetime(2026, 11, 10, 9, 0, tzinfo=timezone.utc)
    people = {f"p{i}@example.org": ("UTC", 8) for i in range(40)}
    add_people(engine, people, joined=now - timedelta(days=2))
    barrier = threading.Barrier(3)

    def plan():
        barrier.wait()
        plan_job(engine, lambda: now)

    threads = [threading.Thread(target=plan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = planned_rows(engine)
    assert sorted(rows) == sorted(people)
    assert all(len(found) == 1 for found in rows.values())


def test_advisory_lock_is_exclusive_on_postgresql(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock exists on PostgreSQL only (SQLite is single-host)")
    key = 0x7E57_0000 + os.getpid()  # not the planner's key: other test runs may share the server
    with try_advisory_lock(engine, key) as first:
        with try_advisory_lock(engine, key) as second:
            assert first and not second
    with try_advisory_lock(engine, key) as again:
        assert again


def test_scheduler_has_coalescing_plan_and_poll_jobs(engine):
    scheduler = build_scheduler(engine, load_settings())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"plan", "sources"}
    for job in jobs.values():
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time >= 3600
