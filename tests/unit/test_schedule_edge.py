"""The pure schedule at its edges: odd offsets, DST at the send hour, ISO week 53, local midnights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from digest.models import Subscriber
from digest.schedule import due_period, next_local_midnight, send_time


def _who(zone: str, hour: int, **extra) -> Subscriber:
    return Subscriber(email="a@example.org", timezone=zone, send_hour=hour, **extra)


@pytest.mark.parametrize("zone, hour, day, expected", [
    ("Asia/Kathmandu", 0, date(2026, 12, 7), datetime(2026, 12, 6, 18, 15, tzinfo=UTC)),
    ("Pacific/Chatham", 2, date(2026, 9, 27), datetime(2026, 9, 26, 13, 15, tzinfo=UTC)),  # before 02:45
    ("Pacific/Chatham", 3, date(2026, 9, 27), datetime(2026, 9, 26, 14, 15, tzinfo=UTC)),  # 03:00 is 04:00
    ("Australia/Lord_Howe", 2, date(2026, 10, 4), datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),  # 02:30
    ("America/St_Johns", 2, date(2026, 3, 8), datetime(2026, 3, 8, 5, 30, tzinfo=UTC)),  # 03:00 -02:30
    ("America/St_Johns", 1, date(2026, 11, 1), datetime(2026, 11, 1, 3, 30, tzinfo=UTC)),  # first 01:00
    ("America/Havana", 0, date(2026, 3, 8), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),  # 01:00 -04:00
])
def test_send_time_in_odd_zones_and_at_dst(zone, hour, day, expected):
    assert send_time(_who(zone, hour), day) == expected


def test_weekly_period_of_iso_week_53():
    weekly = _who("Europe/Berlin", 9, frequency="weekly", weekday=3)
    assert due_period(weekly, datetime(2026, 12, 31, 9, tzinfo=UTC)) == "2026-W53"
    assert due_period(weekly, datetime(2027, 1, 7, 9, tzinfo=UTC)) == "2027-W01"


@pytest.mark.parametrize("zone, instant, expected", [
    ("Asia/Tokyo", datetime(2026, 12, 6, 15, tzinfo=UTC), datetime(2026, 12, 7, 15, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2026, 12, 6, 22, tzinfo=UTC), datetime(2026, 12, 7, 8, tzinfo=UTC)),
    ("Asia/Kathmandu", datetime(2026, 12, 6, 18, 15, tzinfo=UTC), datetime(2026, 12, 7, 18, 15, tzinfo=UTC)),
    ("America/Havana", datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 8, 5, tzinfo=UTC)),  # no midnight
])
def test_next_local_midnight(zone, instant, expected):
    assert next_local_midnight(zone, instant) == expected
