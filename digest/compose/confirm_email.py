"""The double opt-in email, and the wording of a subscriber's schedule.

The confirmation is rare, so it is rendered the ordinary way: full Jinja, then
css-inline on the whole document.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import css_inline
import jinja2

from digest.compose.records import Links
from digest.compose.templates import finish_text, oneline, require_url
from digest.enums import Frequency
from digest.models import Subscriber

__all__ = ["describe_duration", "describe_schedule", "render_confirmation"]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe_schedule(subscriber: Subscriber) -> str:
    """Human wording of when a subscriber gets mail, e.g. "Weekly on Monday at 07:00 (UTC)"."""
    hour = f"{subscriber.send_hour:02d}:00"
    tz = subscriber.timezone or "UTC"
    if subscriber.frequency == Frequency.WEEKLY:
        day = _WEEKDAYS[subscriber.weekday] if subscriber.weekday in range(7) else "Monday"
        return f"Weekly on {day} at {hour} ({tz})"
    return f"Daily at {hour} ({tz})"


def describe_duration(delta: timedelta | None) -> str:
    """"3 days", "5 hours", "1 minute"; "" for no duration."""
    if not delta:
        return ""
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, int(delta.total_seconds() // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def render_confirmation(
    env: jinja2.Environment,
    inliner: css_inline.CSSInliner,
    *,
    subscriber: Subscriber,
    confirm_url: str,
    base: dict[str, Any],
    requested_at: datetime | None,
    valid_for: timedelta | None,
) -> tuple[str, str, str]:
    """(subject, text, html) of the double opt-in email; raises ValueError for a bad URL."""
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "links": Links(confirm_url=require_url(confirm_url, "confirm_url")),
        "schedule": describe_schedule(subscriber),
        "requested": requested_at.strftime("%d %b %Y, %H:%M %Z").strip(" ,") if requested_at else "",
        "expires": describe_duration(valid_for),
    } | base
    subject = oneline(env.get_template("email/confirm.subject.txt").render(context))
    context |= {"title": subject, "preheader": f"Confirm your {base['site_name']} subscription"}
    html = inliner.inline(env.get_template("email/confirm.html").render(context))
    text = env.get_template("email/confirm.txt").render(context)
    return subject, finish_text(text), html
