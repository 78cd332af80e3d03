"""When a subscriber's digest is due, in their own time zone. Pure: the clock is a parameter.

A digest belongs to a period: the subscriber's local date for daily digests ("2026-11-21"),
the local ISO week for weekly ones ("2026-W47"). The outbox is unique on (subscriber,
period), so a period is planned at most once however often or late the planner runs:
after downtime only the latest due period is planned (missed ones coalesce into it, and
the subscriber's cursor makes that digest cover everything since their previous one).
DST shifts neither skip nor double a digest because the period is a local calendar date.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from digest.enums import Frequency
from digest.models import Subscriber


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def send_time(subscriber: Subscriber, day: date) -> datetime:
    """The UTC instant of the subscriber's local send hour on `day`.

    On a spring-forward day a missing hour resolves forwards (02:00 -> 03:00 local).
    """
    local = datetime.combine(day, time(subscriber.send_hour), tzinfo=_zone(subscriber.timezone))
    return local.astimezone(timezone.utc)


def period_of(subscriber: Subscriber, day: date) -> str:
    if subscriber.frequency == Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def latest_slot(subscriber: Subscriber, now: datetime) -> tuple[date, datetime] | None:
    """The most recent (local day, send instant) at or before `now`, within the last 8 days."""
    today = now.astimezone(_zone(subscriber.timezone)).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if subscriber.frequency == Frequency.WEEKLY and day.weekday() != (subscriber.weekday or 0):
            continue
        instant = send_time(subscriber, day)
        if instant <= now:
            return day, instant
    return None


def due_period(subscriber: Subscriber, now: datetime) -> str | None:
    """The period whose digest is due at `now`, or None (not yet, or only slots before they joined)."""
    slot = latest_slot(subscriber, now)
    if slot is None:
        return None
    day, instant = slot
    if subscriber.active_since is not None and instant < subscriber.active_since:
        return None
    return period_of(subscriber, day)


def current_period(subscriber: Subscriber, now: datetime) -> str:
    """The period `now` falls in locally, due or not (for `digest run --now`)."""
    return period_of(subscriber, now.astimezone(_zone(subscriber.timezone)).date())
