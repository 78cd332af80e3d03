"""Subscriber fields: validation and normalisation, pure.

The CLI, the import, the web forms and the store all go through `SubscriberSpec`, so a
value that is refused in one place is refused everywhere, with the same one-line message.
"""

from __future__ import annotations

import difflib
import re
import secrets
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import idna
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from digest.enums import Frequency, SubscriberStatus
from digest.errors import DigestError, QueryError

STATUSES = tuple(status.value for status in SubscriberStatus)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HARD_BOUNCE_LIMIT = 3


class InvalidSubscriber(DigestError):
    """A subscriber field has a bad value; the message names the field and the fix."""


def normalize_email(raw: str) -> str:
    """The address as stored: syntax checked, domain lower-cased and in ASCII (an IDN domain as
    punycode, by IDNA 2008: the SMTP envelope must be ASCII, and Python's IDNA 2003 codec would
    send straße.de's mail to strasse.de). No DNS lookup here."""
    try:
        return validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError as err:
        raise InvalidSubscriber(f"invalid email address {raw.strip()!r}: {err}") from None


def email_key(email: str) -> str:
    """What makes two addresses the same subscriber: the address compared case-insensitively,
    an IDN domain in its Unicode form whether written so or in punycode (rows stored before
    domains were kept in ASCII have Unicode keys)."""
    local, at, domain = email.strip().rpartition("@")
    return f"{local}{at}{_unicode_domain(domain) if at else domain}".casefold()


def _unicode_domain(domain: str) -> str:
    if domain.isascii() and "xn--" not in domain.lower():
        return domain  # nothing to decode (the caller case-folds): 0.1 us, not idna's 3 us
    try:
        return idna.decode(domain, uts46=True)
    except (idna.IDNAError, UnicodeError):
        return domain  # not a domain name (a typo given to `show`): compared as written


def parse_weekday(value: str | int | None) -> int | None:
    """0 = Monday. Accepts 0-6, 'mon', 'Monday'."""
    if value is None or value == "":
        return None
    text = str(value).strip().casefold()
    if text.isdigit() and 0 <= int(text) <= 6:
        return int(text)
    for number, name in enumerate(WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            return number
    raise ValueError("must be a day name (mon..sun) or 0-6 (0 = Monday)")


# Listing the zone database walks the disk: once per process, not once per subscriber.
_zones = lru_cache(maxsize=1)(available_timezones)
@lru_cache(maxsize=8192)  # imports repeat the same few queries thousands of times; a bad query is never cached
def _checked_query(query: str) -> None:
    # Imported here: a process that only sends reads subscribers but never validates a query,
    # and the ranking module brings tantivy and numpy (~0.1 s of start-up).
    from digest.ranking import validate_query

    validate_query(query)


@lru_cache(maxsize=1)
def _zone_lookup() -> tuple[dict[str, str], dict[str, str]]:
    """Zone names by their case-folded name and by their case-folded last part ("london")."""
    by_name = {zone.casefold(): zone for zone in _zones()}
    by_city: dict[str, str] = {}
    for zone in sorted(_zones(), key=lambda z: (z.startswith(("Etc/", "SystemV/", "US/")), len(z), z)):
        by_city.setdefault(zone.rsplit("/", 1)[-1].casefold(), zone)
    return by_name, by_city


def _zone_hint(value: str) -> str:
    """What to write instead of an unknown zone name: the likeliest IANA name, when one is close."""
    by_name, by_city = _zone_lookup()
    key = "_".join(value.split()).casefold()
    guess = by_name.get(key) or by_city.get(key.rsplit("/", 1)[-1])
    if guess is None:
        close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.8) or \
            difflib.get_close_matches(key.rsplit("/", 1)[-1], list(by_city), n=1, cutoff=0.8)
        if close:
            guess = by_name.get(close[0]) or by_city[close[0]]
    if guess is not None:
        return f"did you mean {guess}?"
    return "use an IANA name such as Europe/Berlin or America/New_York"


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


def new_link_secret() -> str:
    """The random value every signed link of a subscriber carries beside their id (192 bits)."""
    return secrets.token_urlsafe(24)


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class SubscriberSpec(BaseModel):
    """Every settable field of a subscriber, validated. Strings from CSV are coerced."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str
    name: str | None = Field(default=None, max_length=200)
    status: SubscriberStatus = SubscriberStatus.PENDING
    interests: str = Field(default="", max_length=1000)
    timezone: str = "UTC"
    send_hour: int = Field(default=7, ge=0, le=23)
    frequency: Frequency = Frequency.DAILY
    weekday: int | None = None
    max_papers: int = Field(default=10, ge=1, le=100)
    min_score: float = Field(default=0.0, ge=0)
    send_empty: bool = False

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalize_email(value)
        except InvalidSubscriber as err:
            raise ValueError(str(err).removeprefix("invalid email address ")) from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        # A display name goes into a From/To header: no line breaks or NULs, ever.
        if value is None:
            return None
        cleaned = " ".join(value.replace("\x00", " ").split())
        return cleaned or None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in _zones() and value != "UTC":
            raise ValueError(f"unknown time zone {value!r}: {_zone_hint(value)}")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday(cls, value: Any) -> int | None:
        return parse_weekday(value)

    @field_validator("interests")
    @classmethod
    def _interests(cls, value: str) -> str:
        # Control characters and lone surrogates mean nothing in a query, and PostgreSQL
        # refuses NUL outright: a one-line error here, not a database error on the whole import.
        if (bad := _UNPRINTABLE.search(value)) is not None:
            raise ValueError(f"interests contain the control character U+{ord(bad.group()):04X} at position "
                             f"{bad.start()}: remove it")
        _checked_query(value)  # raises QueryError with the position of the problem
        return value  # stored as the subscriber wrote it: it is shown back to them

    @model_validator(mode="after")
    def _weekly_needs_a_day(self) -> SubscriberSpec:
        if self.frequency == Frequency.WEEKLY and self.weekday is None:
            self.weekday = 0
        if self.frequency == Frequency.DAILY:
            self.weekday = None
        return self


def spec_from(fields: dict[str, Any]) -> SubscriberSpec:
    """A validated spec, or InvalidSubscriber / QueryError with one line naming the field."""
    try:
        return SubscriberSpec(**{k: v for k, v in fields.items() if v is not None or k == "name"})
    except ValidationError as err:
        raise _one_line(err, fields) from None


def _one_line(err: ValidationError, fields: dict[str, Any]) -> DigestError:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "subscriber"
    context = first.get("ctx", {}).get("error")
    if isinstance(context, QueryError):
        return context
    message = str(context) if context else first["msg"]
    if field in fields and field not in ("email", "timezone", "interests"):
        message = f"{message} (got {fields[field]!r})"
    return InvalidSubscriber(f"invalid {field.replace('_', ' ')}: {message}")
