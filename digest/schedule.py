"""When a subscriber's digest is due, in their own time zone. Pure: the clock is a parameter.

A digest belongs to a period: the subscriber's local date for daily digests ("2026-11-21"),
the local ISO week for weekly ones ("2026-W47"). The outbox is unique on (subscriber,
period), so a period is planned at most once however often or late the planner runs:
after downtime only the latest due period is planned (missed ones coalesce into it, and
the subscriber's cursor makes that digest cover everything since their previous one).
DST shifts neither skip nor double a digest because the period is a local calendar date.
A change of zone or frequency changes the periods themselves, so the change moves the
subscriber's `active_since` to the next local midnight after their latest digest
(`next_local_midnight`, applied by jobs.subscribers): never two digests on one local day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
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
    return local.astimezone(UTC)


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


def next_local_midnight(zone: str, instant: datetime) -> datetime:
    """The UTC instant the local day after `instant`'s begins in `zone` (a midnight that a DST
    change skips resolves forwards, like a send hour)."""
    local_day = instant.astimezone(_zone(zone)).date()
    return datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=_zone(zone)).astimezone(UTC)


def current_period(subscriber: Subscriber, now: datetime) -> str | None:
    """The period `now` falls in locally, due or not (for `digest run --now`); None while a
    schedule change holds the subscriber back (`active_since` still ahead)."""
    if subscriber.active_since is not None and now < subscriber.active_since:
        return None
    return period_of(subscriber, now.astimezone(_zone(subscriber.timezone)).date())
