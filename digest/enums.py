"""The closed sets of values that cross module lines: one home, no bare strings.

Each is a `StrEnum`, so a member compares equal to (and is stored as) its value: rows
read back from the database as plain strings still match `SubscriberStatus.ACTIVE`.
The tables' CHECK constraints are built from these sets (see `store.tables`).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class SubscriberStatus(StrEnum):
    """Where a subscriber stands; the allowed moves are in `jobs.subscribers`."""

    PENDING = "pending"  # signed up, not yet confirmed
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # mail to them failed permanently (or too often)


class DeliveryStatus(StrEnum):
    """An outbox row's state."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class DeliveryKind(StrEnum):
    """What an outbox row will become."""

    DIGEST = "digest"
    CONFIRM = "confirm"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class Vote(IntEnum):
    """A subscriber's judgement of a paper: what their profile learns from."""

    LIKE = 1
    DISLIKE = -1


class VoteOrigin(StrEnum):
    """Where a like or dislike came from."""

    CLI = "cli"
    EMAIL = "email"  # a "more/less like this" link in a digest
    FEED = "feed"  # the same links in the private feed
    WEB = "web"  # the manage page
    LIBRARY = "library"  # an imported reference library (BibTeX, RIS, Zotero CSV)


class MailEventKind(StrEnum):
    """What the service learned from its mailbox (bounces, complaints, mailto unsubscribes)."""

    HARD_BOUNCE = "hard_bounce"  # a DSN with a 5.x.x status
    SOFT_BOUNCE = "soft_bounce"  # a DSN with a 4.x.x status: recorded, not counted
    COMPLAINT = "complaint"  # an ARF feedback report
    UNSUBSCRIBE = "unsubscribe"  # mail to the List-Unsubscribe mailto address


def sql_in(column: str, values: type[StrEnum]) -> str:
    """A CHECK constraint body allowing exactly the members of `values`."""
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"
