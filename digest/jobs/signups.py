"""Web sign-ups: every valid form queues one row; a background task applies the queue.

`POST /subscribe` only queues (`queue_signup`), so no answer, timing or counter tells a new
address from a known one; `process_signups` (the web app's background task) applies each
request by the status table of `jobs.subscribers` and deletes it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from digest.enums import SubscriberStatus as S
from digest.errors import DigestError
from digest.jobs.common import utcnow
from digest.jobs.subscribers import ConfirmMail, hold_if_rescheduled, queue_confirmation
from digest.store import signups
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.subscribers import DuplicateSubscriber
from digest.subscribers import SubscriberSpec, spec_from

__all__ = ["Signup", "process_signups", "queue_signup", "register"]

log = logging.getLogger("digest.subscribers")


# What a repeated sign-up may change on a not-yet-confirmed subscriber: the confirmation
# email shows these, so the person confirming sees exactly what they agree to.
_RENEWABLE = ("interests", "timezone", "send_hour", "frequency", "weekday")


class Signup(StrEnum):
    CREATED = "created"  # a new pending subscriber (and a confirmation, limits allowing)
    RENEWED = "renewed"  # pending again with these preferences, a new confirmation queued
    RESENT = "resent"  # a paused subscriber: a confirmation, which resumes them
    IGNORED = "ignored"  # active, bounced, or a confirmation went to the address recently


def queue_signup(engine: Engine, spec: SubscriberSpec, *, now: datetime | None = None) -> None:
    """What `POST /subscribe` does for every valid form, new address or known: one row in the
    sign-up queue, so no response, timing or counter tells the two apart."""
    with write_transaction(engine) as conn:
        signups.queue(conn, spec.model_dump(mode="json"), now=now or utcnow())


def process_signups(engine: Engine, *, now: datetime | None = None, batch: int = 200) -> int:
    """Apply queued sign-ups (`register`), oldest first, `batch` per transaction, until the
    queue is empty. Safe to run in several processes at once. Returns how many were handled."""
    handled = 0
    while True:
        with write_transaction(engine) as conn:
            claimed = signups.claim(conn, batch)
            for request in claimed:
                _register_queued(conn, request.fields, now=now or utcnow())
            signups.remove(conn, [request.id for request in claimed])
        handled += len(claimed)
        if len(claimed) < batch:
            return handled


def _register_queued(conn: Connection, fields: dict, *, now: datetime) -> None:
    try:
        spec = spec_from(fields)
    except DigestError as err:  # valid when queued; rules may have tightened since
        log.warning("dropped a queued sign-up that is no longer valid: %s", err)
        return
    for attempt in (1, 2):
        try:
            with conn.begin_nested():
                register(conn, spec, now=now)
            return
        except DuplicateSubscriber as err:  # another process added the address in between: renew
            if attempt == 2:  # still refused with the address there: not a race, see below
                _set_aside(err)
                return
        except (DataError, IntegrityError) as err:
            _set_aside(err)
            return


def _set_aside(err: Exception) -> None:
    """What the database refuses in one queued request must not fail its batch, and every
    sign-up queued behind it, on every retry: it is dropped with a line for the operator."""
    reason = str(getattr(err, "orig", None) or err).splitlines()[0]
    log.warning("dropped a queued sign-up the database refused: %s", reason)


def register(conn: Connection, spec: SubscriberSpec, *, now: datetime) -> Signup:
    """Act on a valid sign-up (the visitor saw the same page whatever happens here).

    New address: a pending subscriber and a confirmation email. Pending, unsubscribed:
    the preferences are replaced, the status becomes pending, a confirmation is queued.
    Paused: a confirmation email only (confirming resumes them; their manage link may have
    expired while no digests came). Active: nothing (every digest has their links).
    Bounced: nothing (writing again would hurt the sender's reputation). Every confirmation
    obeys the per-address limit; when it says not yet, nothing changes at all.
    """
    row = subscriber_store.find(conn, spec.email)
    if row is None:
        row = subscriber_store.add(conn, spec.model_copy(update={"status": S.PENDING}), now=now)
        queue_confirmation(conn, row, now=now, limited=True)
        return Signup.CREATED
    if row.status not in (S.PENDING, S.UNSUBSCRIBED, S.PAUSED):
        return Signup.IGNORED
    if queue_confirmation(conn, row, now=now, limited=True) == ConfirmMail.LIMITED:
        return Signup.IGNORED
    if row.status == S.PAUSED:
        return Signup.RESENT
    wanted = spec.model_dump()
    changed: dict[str, Any] = {name: wanted[name] for name in _RENEWABLE if getattr(row, name) != wanted[name]}
    changed["status"] = S.PENDING
    subscriber_store.change(conn, row.id, changed, now=now)
    hold_if_rescheduled(conn, row.id, changed, now=now)  # a new zone: never two digests on one local day
    return Signup.RENEWED
