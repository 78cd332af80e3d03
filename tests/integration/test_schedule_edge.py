"""The planner on a real database with a controllable clock, at the schedule's edges: odd UTC
offsets, DST at the send hour, ISO week 53, hours 0 and 23, days of downtime, and subscribers
who change zone, hour, frequency or status after today's digest went out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from digest.jobs import (
    Action,
    add_subscriber,
    apply_subscriber_import,
    change_status,
    plan_subscriber_import,
    update_subscriber,
)
from digest.jobs.planning import plan_digests
from digest.jobs.signups import process_signups, queue_signup
from digest.scheduler import plan_job
from digest.store.tables import deliveries
from digest.subscribers import spec_from
from tests.fakes import FakeClock

STEP = timedelta(minutes=15)
WHO = "edge@example.org"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _subscribe(engine, *, zone: str, hour: int, joined: datetime, **extra) -> None:
    fields = {"email": WHO, "timezone": zone, "send_hour": hour, "status": "active", "send_empty": True, **extra}
    add_subscriber(engine, spec_from(fields), now=joined)


def _run(engine, clock: FakeClock, until: datetime, changes: dict[datetime, dict] | None = None,
         down: tuple[datetime, datetime] | None = None) -> None:
    """Plan every STEP until `until`, applying each change (fields, or {"action": ...}) at its time."""
    pending = sorted((changes or {}).items())
    while clock.now < until:
        while pending and pending[0][0] <= clock.now:
            at, fields = pending.pop(0)
            if "action" in fields:
                change_status(engine, WHO, fields["action"], now=at)
            else:
                update_subscriber(engine, WHO, fields, now=at)
        if not (down and down[0] <= clock.now < down[1]):
            plan_job(engine, clock)
        clock.advance(seconds=STEP.total_seconds())


def _digests(engine) -> list[tuple[str, datetime]]:
    with engine.connect() as conn:
        query = select(deliveries.c.period, deliveries.c.created_at).where(
            deliveries.c.kind == "digest").order_by(deliveries.c.id)
        return [(period, created.astimezone(UTC)) for period, created in conn.execute(query)]


def _local_days(rows, zone: str) -> list[date]:
    return [created.astimezone(ZoneInfo(zone)).date() for _, created in rows]


@pytest.mark.parametrize("zone, hour, start", [
    ("Asia/Kathmandu", 0, _utc(2026, 12, 1)),  # +5:45
    ("Pacific/Chatham", 2, _utc(2026, 9, 24)),  # +12:45 -> +13:45 at 02:45 on 27 Sep
    ("Pacific/Chatham", 3, _utc(2026, 4, 1)),  # +13:45 -> +12:45 at 03:45 on 5 Apr
    ("Australia/Lord_Howe", 2, _utc(2026, 10, 1)),  # 02:00 -> 02:30 (half-hour DST) on 4 Oct
    ("Australia/Lord_Howe", 1, _utc(2026, 4, 2)),  # 02:00 -> 01:30 on 5 Apr: 01:30-02:00 twice
    ("America/St_Johns", 2, _utc(2026, 3, 5)),  # -3:30 -> -2:30, 02:00 does not exist on 8 Mar
    ("America/St_Johns", 1, _utc(2026, 10, 29)),  # 02:00 -> 01:00 on 1 Nov: 01:00-02:00 twice
    ("Europe/Berlin", 2, _utc(2026, 10, 22)),  # 03:00 -> 02:00 on 25 Oct: 02:00 twice
    ("America/Havana", 0, _utc(2026, 3, 5)),  # midnight does not exist on 8 Mar
    ("America/New_York", 23, _utc(2026, 3, 5)),
])
def test_one_digest_per_local_day_at_the_send_hour_across_dst(engine, zone, hour, start):
    _subscribe(engine, zone=zone, hour=hour, joined=start)
    _run(engine, FakeClock(start), start + timedelta(days=6))
    rows = _digests(engine)
    days = _local_days(rows, zone)
    assert [period for period, _ in rows] == [day.isoformat() for day in days]
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))] and len(days) >= 5
    for _, created in rows:
        local = created.astimezone(ZoneInfo(zone))
        # at the hour, or at the first instant after it when DST skips it
        assert local.hour == hour or (local.hour == hour + 1 and local.dst()), local


def test_weekly_across_iso_week_53_and_the_new_year(engine):
    start = _utc(2026, 12, 20)
    _subscribe(engine, zone="Pacific/Kiritimati", hour=0, joined=start, frequency="weekly", weekday="thu")
    _run(engine, FakeClock(start), _utc(2027, 1, 16))
    assert [period for period, _ in _digests(engine)] == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]


def test_days_of_downtime_plan_the_latest_period_once_when_back(engine):
    start = _utc(2026, 12, 1)
    _subscribe(engine, zone="Asia/Kathmandu", hour=23, joined=start)
    _run(engine, FakeClock(start), _utc(2026, 12, 12), down=(_utc(2026, 12, 2), _utc(2026, 12, 10, 12)))
    periods = [period for period, _ in _digests(engine)]
    assert periods == ["2026-12-01", "2026-12-09", "2026-12-10", "2026-12-11"]


def test_a_zone_change_eastwards_after_today_s_digest_sends_no_second_that_day(engine):
    # Los Angeles 07:00 on 6 Dec is 15:00 UTC, already 00:00 on 7 Dec in Tokyo, whose 07:00
    # digest would follow seven hours later: two digests on one local day in either zone.
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="America/Los_Angeles", hour=7, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 9), {_utc(2026, 12, 6, 16): {"timezone": "Asia/Tokyo"}})
    rows = _digests(engine)
    assert [period for period, _ in rows] == ["2026-12-05", "2026-12-06", "2026-12-08", "2026-12-09"]
    assert rows[2][1] == _utc(2026, 12, 7, 22)  # 07:00 on 8 Dec in Tokyo: the next one is not lost


def test_a_zone_change_westwards_loses_no_digest(engine):
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="Asia/Tokyo", hour=7, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 9), {_utc(2026, 12, 6, 23): {"timezone": "America/Los_Angeles"}})
    times = [created for _, created in _digests(engine)]
    assert _utc(2026, 12, 7, 15) in times  # 07:00 on 7 Dec in Los Angeles


@pytest.mark.parametrize("before, after, periods", [
    ({"frequency": "daily"}, {"frequency": "weekly", "weekday": "mon"},
     ["2026-12-06", "2026-12-07", "2026-W51", "2026-W52"]),
    ({"frequency": "weekly", "weekday": "mon"}, {"frequency": "daily"},
     ["2026-W50", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"]),
    ({"frequency": "daily"}, {"frequency": "weekly", "weekday": "wed"},
     ["2026-12-06", "2026-12-07", "2026-W50", "2026-W51"]),  # Wednesday's weekly still comes
])
def test_a_frequency_change_after_today_s_digest_sends_no_second_that_day(engine, before, after, periods):
    start = _utc(2026, 12, 6, 12)  # a Sunday; 7 Dec is a Monday
    _subscribe(engine, zone="UTC", hour=7, joined=start - timedelta(days=3), **before)
    _run(engine, FakeClock(start), _utc(2026, 12, 21, 12) if "weekday" in after else _utc(2026, 12, 11, 12),
         {_utc(2026, 12, 7, 8): after})
    rows = _digests(engine)
    assert [period for period, _ in rows] == periods
    days = _local_days(rows, "UTC")
    assert len(days) == len(set(days))


def test_an_hour_change_after_today_s_digest_waits_for_tomorrow_at_the_new_hour(engine):
    start = _utc(2026, 12, 7)
    _subscribe(engine, zone="Europe/Berlin", hour=7, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 9), {_utc(2026, 12, 7, 8): {"send_hour": 23}})
    rows = _digests(engine)
    assert [period for period, _ in rows] == ["2026-12-06", "2026-12-07", "2026-12-08"]
    assert rows[-1][1] == _utc(2026, 12, 8, 22)


def test_a_zone_change_on_a_day_without_a_digest_yet_still_sends_that_day(engine):
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="Asia/Kathmandu", hour=20, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 8), {_utc(2026, 12, 7, 10): {"timezone": "UTC"}})
    # Kathmandu's 20:00 digest of 6 Dec came at 14:15 UTC that day; UTC's of 7 Dec still comes
    assert _digests(engine)[-2:] == [("2026-12-06", _utc(2026, 12, 6, 14, 15)), ("2026-12-07", _utc(2026, 12, 7, 20))]


@pytest.mark.parametrize("pause_at, resume_at, periods", [
    (_utc(2026, 12, 7, 7, 30), _utc(2026, 12, 7, 8), ["2026-12-06", "2026-12-07", "2026-12-08"]),
    (_utc(2026, 12, 7, 6), _utc(2026, 12, 7, 8), ["2026-12-06", "2026-12-08"]),  # paused at the hour
])
def test_pause_and_resume_around_the_send_hour(engine, pause_at, resume_at, periods):
    start = _utc(2026, 12, 7)
    _subscribe(engine, zone="UTC", hour=7, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 9),
         {pause_at: {"action": Action.PAUSE}, resume_at: {"action": Action.RESUME}})
    assert [period for period, _ in _digests(engine)] == periods


def test_pausing_changing_zone_and_resuming_the_same_day_sends_no_second_that_day(engine):
    # resume stamps active_since = now: it must not pull back the floor a zone change set
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="America/Los_Angeles", hour=7, joined=start - timedelta(days=3))
    _run(engine, FakeClock(start), _utc(2026, 12, 9), {
        _utc(2026, 12, 6, 16): {"action": Action.PAUSE},
        _utc(2026, 12, 6, 16, 5): {"timezone": "Asia/Tokyo"},
        _utc(2026, 12, 6, 16, 10): {"action": Action.RESUME},
    })
    assert [period for period, _ in _digests(engine)] == ["2026-12-05", "2026-12-06", "2026-12-08", "2026-12-09"]


def test_an_import_that_changes_the_zone_sends_no_second_that_day(engine):
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="America/Los_Angeles", hour=7, joined=start - timedelta(days=3))
    clock = FakeClock(start)
    _run(engine, clock, _utc(2026, 12, 6, 16))
    plan = plan_subscriber_import(engine, f"email,status,timezone,send_hour,send_empty\n{WHO},active,Asia/Tokyo,7,true\n".encode(), name="p.csv")
    apply_subscriber_import(engine, plan, now=clock.now)
    _run(engine, clock, _utc(2026, 12, 9))
    assert [period for period, _ in _digests(engine)] == ["2026-12-05", "2026-12-06", "2026-12-08", "2026-12-09"]


def test_a_weekday_change_to_later_in_the_same_week_loses_no_digest(engine):
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="UTC", hour=7, joined=start - timedelta(days=3), frequency="weekly", weekday="mon")
    _run(engine, FakeClock(start), _utc(2026, 12, 14), {_utc(2026, 12, 7, 8): {"weekday": "sun"}})
    assert _utc(2026, 12, 13, 7) in [created for _, created in _digests(engine)]


def test_run_now_after_a_zone_change_sends_no_second_that_day(engine):
    # `digest run --now` plans everyone's current period: not one a zone change has held back
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="America/Los_Angeles", hour=7, joined=start - timedelta(days=3))
    clock = FakeClock(start)
    _run(engine, clock, _utc(2026, 12, 6, 16), {_utc(2026, 12, 6, 15, 30): {"timezone": "Asia/Tokyo"}})
    assert plan_digests(engine, _utc(2026, 12, 6, 23), force=True).planned == 0
    assert plan_digests(engine, _utc(2026, 12, 7, 16), force=True).planned == 1  # 8 Dec in Tokyo
    assert [period for period, _ in _digests(engine)] == ["2026-12-05", "2026-12-06", "2026-12-08"]


def test_a_web_re_sign_up_in_another_zone_sends_no_second_that_day(engine):
    # Unsubscribed after Los Angeles' digest of 6 Dec, signed up again on the web as in Tokyo
    # and confirmed at once: Tokyo's 7 Dec began before that digest left.
    start = _utc(2026, 12, 6, 12)
    _subscribe(engine, zone="America/Los_Angeles", hour=7, joined=start - timedelta(days=3))
    clock = FakeClock(start)
    _run(engine, clock, _utc(2026, 12, 6, 16), {_utc(2026, 12, 6, 15, 30): {"action": Action.UNSUBSCRIBE}})
    queue_signup(engine, spec_from({"email": WHO, "timezone": "Asia/Tokyo", "send_hour": 7, "send_empty": True}),
                 now=clock.now)
    assert process_signups(engine, now=clock.now) == 1
    change_status(engine, WHO, Action.CONFIRM, now=clock.now)
    _run(engine, clock, _utc(2026, 12, 9))
    assert [period for period, _ in _digests(engine)] == ["2026-12-05", "2026-12-06", "2026-12-08", "2026-12-09"]
