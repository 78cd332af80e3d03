"""Subscriber forms: read the posted fields, validate them all at once, and say what is wrong
next to each field.

Validation is `SubscriberSpec` itself (the same rules as the CLI and imports); this module
only turns its errors into one message per field, with the position and hint of a bad
query, so the form can be shown again with every problem marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from pydantic import ValidationError

from digest.errors import QueryError
from digest.ranking import validate_query
from digest.subscribers import WEEKDAYS, SubscriberSpec
from digest.web.zones import timezone_choices  # noqa: F401 - the routes take the form's choices from here

# The fields a browser may set; status, name, feed token and the rest never come from a form.
SUBSCRIBE_FIELDS = ("email", "interests", "timezone", "send_hour", "frequency", "weekday")
MANAGE_FIELDS = ("interests", "timezone", "send_hour", "frequency", "weekday", "max_papers")
# Errors are listed in the order the fields appear on the page.
_ORDER = {name: number for number, name in enumerate(("email", "interests", "timezone", "send_hour", "frequency",
                                                      "weekday", "max_papers"))}
DEFAULTS = {"email": "", "interests": "", "timezone": "UTC", "send_hour": "7", "frequency": "daily",
            "weekday": "0", "max_papers": "10"}

# NUL and the other C0 controls but tab and line breaks, and lone surrogates: no one types
# them, and PostgreSQL refuses NUL in text, so one queued sign-up holding it failed the
# sign-up task, and every sign-up queued behind it, until the row was removed by hand.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

# Wording for type and range errors, which pydantic phrases for programmers.
_FRIENDLY = {
    "send_hour": "Choose an hour from 0 to 23.",
    "max_papers": "Choose a number of papers from 1 to 100.",
    "frequency": "Choose daily or weekly.",
    "interests": "Keep your keywords under 1,000 characters.",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field. For a query: where (0-based) and how to fix it."""

    message: str
    position: int | None = None
    hint: str = ""
    query: str = ""

    @property
    def marked(self) -> tuple[str, str, str] | None:
        """(before, the character at fault, after) of the query, for showing the spot."""
        if self.position is None or not self.query:
            return None
        at = min(self.position, len(self.query))
        return self.query[:at], self.query[at : at + 1] or " ", self.query[at + 1 :]


def form_values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The named fields as posted (strings; absent -> ""). Files and repeats are ignored."""
    values = {}
    for name in names:
        value = form.get(name, "")
        values[name] = value if isinstance(value, str) else ""
    return values


def validate(fields: Mapping[str, Any]) -> tuple[SubscriberSpec | None, dict[str, FieldError]]:
    """(spec, {}) when every field is good, else (None, one error per bad field).

    The query is checked first on its own: its QueryError is not a ValueError, so pydantic
    would let it escape and hide the other fields' errors.
    """
    errors: dict[str, FieldError] = {}
    unstorable = [name for name, value in fields.items() if isinstance(value, str) and UNSTORABLE.search(value)]
    for name in unstorable:
        errors[name] = FieldError("Remove the control characters (such as NUL) from this field.")
    fields = {**fields, **{name: DEFAULTS.get(name, "") for name in unstorable}}
    interests = fields.get("interests")
    if isinstance(interests, str):
        try:
            validate_query(interests)
        except QueryError as err:
            errors["interests"] = FieldError(f"This query cannot be read: {err.message}.", err.position, err.hint,
                                             err.query or interests)
            fields = {**fields, "interests": ""}
    try:
        spec = SubscriberSpec(**fields)
    except ValidationError as err:
        for problem in err.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "form"
            errors.setdefault(field, _field_error(field, problem))
        return None, dict(sorted(errors.items(), key=lambda item: _ORDER.get(item[0], 99)))
    return (None, errors) if errors else (spec, {})


def _field_error(field: str, problem: Mapping[str, Any]) -> FieldError:
    cause = (problem.get("ctx") or {}).get("error")
    if field == "email":
        reason = re.sub(r"^'.*?': ", "", str(cause or problem["msg"]), flags=re.S)
        return FieldError(f"Enter a valid email address: {reason}")
    if field in _FRIENDLY and not isinstance(cause, ValueError):
        return FieldError(_FRIENDLY[field])
    return FieldError(str(cause) if cause else problem["msg"])


HOURS = tuple((str(h), f"{h:02d}:00") for h in range(24))
DAYS = tuple((str(number), name.capitalize()) for number, name in enumerate(WEEKDAYS))


def row_values(row: Any) -> dict[str, str]:
    """A stored subscriber's settable fields as form strings."""
    return {
        "email": row.email,
        "interests": row.interests or "",
        "timezone": row.timezone,
        "send_hour": str(row.send_hour),
        "frequency": row.frequency,
        "weekday": str(row.weekday if row.weekday is not None else 0),
        "max_papers": str(row.max_papers),
    }
