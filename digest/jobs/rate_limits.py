"""The rate limits of the web's POSTs and of confirmation emails, kept in the database.

Every limit is a `Limit` (bucket and `(count, window)` rules) checked with `hit`, which
records the event when it is allowed. Being in the database (`rate_events`), a limit holds
across web workers, hosts and restarts. Keys are a client's network (see
`web.security.client_key`), a subscriber id, or an address's SHA-256 (an address that never
confirms leaves no readable trace).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from digest.jobs.common import utcnow
from digest.store import rate_limits as store
from digest.store.db import write_transaction
from digest.subscribers import email_key

HOUR = timedelta(hours=1)
# Events older than this are deleted by `prune` (longer than every window below).
KEEP = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Limit:
    bucket: str
    rules: tuple[tuple[int, timedelta], ...]


def signup_limit(per_hour: int) -> Limit:
    """Sign-up form posts per client network (DIGEST_SUBSCRIBE_RATE_PER_HOUR)."""
    return Limit("signup", ((per_hour, HOUR),))


# Confirm button posts per client network: one per sign-up is the normal use.
CONFIRM_POSTS = Limit("confirm", ((30, HOUR),))
# Manage page posts per client network: a person saving and toggling now and then.
MANAGE_POSTS = Limit("manage", ((60, HOUR),))
# One-click unsubscribes per subscriber, not per network: mail providers post them for
# millions of users from a few addresses, and an unsubscribe must never be refused there.
UNSUBSCRIBE_POSTS = Limit("unsubscribe", ((10, HOUR),))
# "More / less like this" posts per subscriber: a reader going through a digest, not a script.
FEEDBACK_POSTS = Limit("feedback", ((120, HOUR),))
# Confirmation emails per address, whoever asks and from however many networks: the form
# cannot be used to flood someone's mailbox.
CONFIRM_MAILS = Limit("confirm_mail", ((1, timedelta(minutes=15)), (5, timedelta(days=1))))


def address_key(email: str) -> str:
    return hashlib.sha256(email_key(email).encode("utf-8")).hexdigest()


def hit_in(conn: Connection, limit: Limit, key: str, *, now: datetime) -> int | None:
    """Record one event for `key` in the caller's write transaction: None if allowed, else
    the whole seconds until it would be."""
    return store.take(conn, limit.bucket, key[:320], limit.rules, now=now)


def record_in(conn: Connection, limit: Limit, key: str, *, now: datetime) -> None:
    """Count one event for `key` without checking (an operator's action still uses up the
    allowance a visitor would get)."""
    store.record(conn, limit.bucket, key[:320], now=now)


def hit(engine: Engine, limit: Limit, key: str, *, now: datetime | None = None) -> int | None:
    """`hit_in` in its own transaction."""
    with write_transaction(engine) as conn:
        return hit_in(conn, limit, key, now=now or utcnow())


def prune(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete events older than KEEP; safe to run any time. Returns how many went."""
    with write_transaction(engine) as conn:
        return store.prune(conn, before=(now or utcnow()) - KEEP)
