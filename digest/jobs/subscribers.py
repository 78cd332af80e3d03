"""Subscriber use cases: add, change, remove, import; status moves; signed links (web
sign-ups: `jobs.signups`).

Status moves go through ONE table, `TRANSITIONS`, whoever asks (the CLI's pause / resume /
confirm / unsubscribe / update --status, the web's confirm, manage and unsubscribe pages):

    action       from                            to
    confirm      pending, paused                 active (hard-bounce count reset)
    pause        active                          paused
    resume       paused                          active
    resume       pending, unsubscribed, bounced  pending + a confirmation email
    unsubscribe  pending, active, paused,        unsubscribed
                 bounced

An action whose result is the current status changes nothing; any other pair is refused
(`InvalidMove`). So nobody who unsubscribed or bounced gets digests again without
confirming from their mailbox, and an operator's typo cannot activate anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from digest.enums import DeliveryKind, DeliveryStatus
from digest.enums import SubscriberStatus as S
from digest.errors import DigestError, NotFoundError
from digest.jobs import rate_limits
from digest.jobs.common import gc_paused, utcnow
from digest.links import max_age_seconds
from digest.schedule import next_local_midnight
from digest.store import outbox
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.tables import deliveries
from digest.subscriber_io import ImportPlan, plan_import, read_records
from digest.subscribers import (
    SubscriberSpec,
    email_key,
    new_feed_token,
    new_link_secret,
    spec_from,
)
from digest.tokens import Keys, SignedLink, read_link

log = logging.getLogger("digest.subscribers")


class Action(StrEnum):
    CONFIRM = "confirm"
    PAUSE = "pause"
    RESUME = "resume"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Move:
    to: S
    confirm_first: bool = False  # to pending, with a confirmation email queued


TRANSITIONS: Mapping[tuple[Action, S], Move] = {
    (Action.CONFIRM, S.PENDING): Move(S.ACTIVE),
    (Action.CONFIRM, S.PAUSED): Move(S.ACTIVE),  # a paused subscriber who signed up again
    (Action.PAUSE, S.ACTIVE): Move(S.PAUSED),
    (Action.RESUME, S.PAUSED): Move(S.ACTIVE),
    (Action.RESUME, S.PENDING): Move(S.PENDING, confirm_first=True),
    (Action.RESUME, S.UNSUBSCRIBED): Move(S.PENDING, confirm_first=True),
    (Action.RESUME, S.BOUNCED): Move(S.PENDING, confirm_first=True),
    **{(Action.UNSUBSCRIBE, status): Move(S.UNSUBSCRIBED) for status in (S.PENDING, S.ACTIVE, S.PAUSED, S.BOUNCED)},
}
# Where each action leads when it has nothing to do.
_SETTLED = {Action.CONFIRM: S.ACTIVE, Action.PAUSE: S.PAUSED, Action.RESUME: S.ACTIVE,
            Action.UNSUBSCRIBE: S.UNSUBSCRIBED}
_WHY = {S.PENDING: "has not confirmed yet", S.UNSUBSCRIBED: "unsubscribed", S.BOUNCED: "bounced",
        S.PAUSED: "is paused", S.ACTIVE: "is active"}


class InvalidMove(DigestError):
    """The action is not allowed from the subscriber's current status; the message says why."""


class LinkGone(NotFoundError):
    """A genuine link whose subscriber is no longer on the list (removed, or the id now names
    someone else): it acts on nobody."""


class ConfirmMail(StrEnum):
    NONE = "none"  # the move needed no confirmation email
    QUEUED = "queued"
    LIMITED = "limited"  # one was sent recently to this address: not again yet


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveResult:
    row: Row  # as it ends up
    before: S
    changed: bool
    mail: ConfirmMail = ConfirmMail.NONE


def move(conn: Connection, row: Row, action: Action, *, now: datetime, limit_mail: bool) -> MoveResult:
    """Apply `action` to `row` by the table. Raises InvalidMove. `limit_mail`: the
    confirmation email obeys the per-address limit (requests from the web do)."""
    before = S(row.status)
    step = TRANSITIONS.get((action, before))
    if step is None:
        if _SETTLED[action] == before:
            return MoveResult(row=row, before=before, changed=False)
        raise InvalidMove(f"cannot {action} {row.email}: they {_WHY[before]}" + _hint(action, before))
    fields: dict[str, Any] = {"status": step.to} if step.to != before else {}
    if action == Action.CONFIRM:
        fields["hard_bounces"] = 0  # they just proved the mailbox works
    mail = ConfirmMail.NONE
    if step.confirm_first:
        mail = queue_confirmation(conn, row, now=now, limited=limit_mail)
    if fields:
        subscriber_store.change(conn, row.id, fields, now=now)
        if step.to == S.ACTIVE and row.confirmed_at is not None and row.confirmed_at > now:
            # becoming active stamps confirmed_at = now: keep a zone change's later floor
            subscriber_store.change(conn, row.id, {"confirmed_at": row.confirmed_at}, now=now)
    return MoveResult(row=subscriber_store.by_id(conn, row.id), before=before, changed=bool(fields) or
                      mail == ConfirmMail.QUEUED, mail=mail)


def _hint(action: Action, status: S) -> str:
    if action == Action.CONFIRM and status in (S.UNSUBSCRIBED, S.BOUNCED):
        return " (`digest subscribers resume` emails them a new confirmation)"
    if action == Action.PAUSE and status == S.PENDING:
        return " (nothing is sent before they confirm)"
    return ""


def action_to(status: S, target: S) -> Action | None:
    """The action that takes `status` to `target` by the table (None: none does)."""
    for action in Action:
        step = TRANSITIONS.get((action, status))
        if step is not None and step.to == target:
            return action
    return None


def apply_action(engine: Engine, subscriber_id: int, action: Action, *, now: datetime | None = None,
                 limit_mail: bool = True) -> MoveResult | None:
    """`move` the subscriber with this id in its own transaction; None when they are gone."""
    with write_transaction(engine) as conn:
        row = subscriber_store.by_id(conn, subscriber_id)
        return None if row is None else move(conn, row, action, now=now or utcnow(), limit_mail=limit_mail)


def change_status(engine: Engine, email: str, action: Action, *, now: datetime | None = None) -> MoveResult:
    """An operator's move (CLI): like the web's, without the confirmation-email limit.
    Raises NotFoundError for an unknown address, InvalidMove when the table refuses."""
    with write_transaction(engine) as conn:
        return move(conn, subscriber_store.get(conn, email), action, now=now or utcnow(), limit_mail=False)


def queue_confirmation(conn: Connection, row: Row, *, now: datetime, limited: bool) -> ConfirmMail:
    """Queue a confirmation email to `row`, unless `limited` and CONFIRM_MAILS says not yet.
    Every confirmation counts against the address's allowance, limited or not."""
    key = rate_limits.address_key(row.email)
    if limited:
        if rate_limits.hit_in(conn, rate_limits.CONFIRM_MAILS, key, now=now):
            return ConfirmMail.LIMITED
    else:
        rate_limits.record_in(conn, rate_limits.CONFIRM_MAILS, key, now=now)
    outbox.queue_confirmation(conn, row.id, now=now)
    return ConfirmMail.QUEUED


# ---- links ---------------------------------------------------------------------------------


def subscriber_for_link(conn: Connection, keys: Keys, purpose: str, token: str, *,
                        max_age: int | None = None) -> tuple[Row, SignedLink]:
    """The subscriber a signed link acts on, and what it says.

    Raises BadToken (forged, tampered, other purpose, or older than `max_age` seconds,
    by default the purpose's age in `digest.links`; `.expired` tells which) and LinkGone
    when the subscriber it was made for is no longer there: the row it names must hold the
    same `link_secret`, or, for a legacy id-only link, be a row marked `legacy_links`.
    """
    link = read_link(keys, purpose, token, max_age_seconds(purpose) if max_age is None else max_age)
    row = subscriber_store.by_id(conn, link.subscriber_id)
    if row is None or not (row.legacy_links if link.legacy else link.bound_to(row.link_secret)):
        raise LinkGone("this link's subscription no longer exists")
    return row, link


def rotate_links(engine: Engine, email: str, *, now: datetime | None = None) -> Row:
    """A new link secret and a new feed token for the subscriber: every link sent to them so
    far stops working (a forwarded email, a leaked link), their private feed's URL included,
    since an email carries it and the feed hands out signed links; their next email carries
    working ones."""
    with write_transaction(engine) as conn:
        row = subscriber_store.get(conn, email)
        subscriber_store.change(conn, row.id, {"link_secret": new_link_secret(), "feed_token": new_feed_token(),
                                               "legacy_links": False}, now=now or utcnow())
        return subscriber_store.by_id(conn, row.id)


# ---- add, change, remove, import ------------------------------------------------------------


def add_subscriber(engine: Engine, spec: SubscriberSpec, *, now: datetime | None = None) -> Row:
    """Store a new subscriber; a pending one also gets a confirmation email queued.

    Raises DuplicateSubscriber when the address exists (in any letter case).
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = subscriber_store.add(conn, spec, now=now)
        if row.status == S.PENDING:
            queue_confirmation(conn, row, now=now, limited=False)
    return row


def update_subscriber(engine: Engine, email: str, fields: dict, *, now: datetime | None = None) -> Row:
    """Change some fields of a subscriber, validated like a new one. Returns the new row.

    A "status" among `fields` goes through the transition table (InvalidMove when no action
    leads there from the current status). A new zone, frequency or weekday sends nothing more on the
    local day their latest digest came (`hold_if_rescheduled`).
    """
    now = now or utcnow()
    fields = dict(fields)
    target = fields.pop("status", None)
    with write_transaction(engine) as conn:
        row = subscriber_store.get(conn, email)
        merged = {name: getattr(row, name) for name in SubscriberSpec.model_fields} | fields
        spec = spec_from(merged)
        changed = {k: v for k, v in spec.model_dump().items() if k != "status" and getattr(row, k) != v}
        if changed:
            subscriber_store.change(conn, row.id, changed, now=now)
        if target is not None and S(spec_from(merged | {"status": target}).status) != row.status:
            _move_to(conn, subscriber_store.by_id(conn, row.id), S(target), now=now)
        hold_if_rescheduled(conn, row.id, changed, now=now)
        return subscriber_store.by_id(conn, row.id)


# Changes that move a subscriber's periods: the outbox's (subscriber, period) key no longer tells
# whether today's digest went out (Tokyo's 2026-12-07 is LA's 2026-12-06; 2026-W50 is no 2026-12-07).
_RESCHEDULING = frozenset({"timezone", "frequency", "weekday"})


def hold_if_rescheduled(conn: Connection, subscriber_id: int, changed: Iterable[str], *, now: datetime) -> None:
    """After a change of the fields `changed` (a CLI update, an import, a web re-sign-up): when
    it moves the subscriber's periods, `_hold_until_a_new_day`."""
    if _RESCHEDULING.intersection(changed):
        _hold_until_a_new_day(conn, subscriber_store.by_id(conn, subscriber_id), now=now)


def _hold_until_a_new_day(conn: Connection, row: Row, *, now: datetime) -> None:
    """After a zone, frequency or weekday change, nothing is due before the local day after
    their latest digest's: the floor is `active_since` (confirmed_at), which the schedule obeys,
    moved only forwards. Test sends and skipped (empty, never sent) digests do not count."""
    last = conn.execute(select(func.max(deliveries.c.created_at)).where(
        deliveries.c.subscriber_id == row.id, deliveries.c.kind == DeliveryKind.DIGEST,
        deliveries.c.status != DeliveryStatus.SKIPPED, deliveries.c.period.notlike("test-%"))).scalar()
    if last is None:
        return
    floor = next_local_midnight(row.timezone, last)
    if floor > (row.confirmed_at or row.created_at):
        subscriber_store.change(conn, row.id, {"confirmed_at": floor}, now=now)


def set_status(engine: Engine, email: str, status: str, *, now: datetime | None = None) -> Row:
    """Move to `status` by the transition table (see `update_subscriber`)."""
    return update_subscriber(engine, email, {"status": status}, now=now)


def _move_to(conn: Connection, row: Row, target: S, *, now: datetime) -> None:
    action = action_to(S(row.status), target)
    if action is None:
        hint = _hint(Action.CONFIRM, S(row.status)) if target == S.ACTIVE else ""
        raise InvalidMove(f"cannot make {row.email} {target}: they {_WHY[S(row.status)]}"
                          + (hint or " (see `digest subscribers --help` for pause, resume, confirm and unsubscribe)"))
    move(conn, row, action, now=now, limit_mail=False)


def remove_subscriber(engine: Engine, email: str) -> Row:
    """Delete the subscriber and all their data (deliveries included). Their link secret
    goes with the row, and ids are never reused: none of their links works again."""
    with write_transaction(engine) as conn:
        row = subscriber_store.get(conn, email)
        subscriber_store.remove(conn, row.id)
    return row


def plan_subscriber_import(engine: Engine, data: bytes, *, name: str) -> ImportPlan:
    """Read and check an import file against the stored subscribers; writes nothing."""
    records = read_records(data, name=name)
    with engine.connect() as conn:
        existing = subscriber_store.existing_keys(conn, (email_key(str(r.fields.get("email") or "")) for r in records))
    with gc_paused():
        return plan_import(records, existing)


def apply_subscriber_import(engine: Engine, plan: ImportPlan, *, now: datetime | None = None) -> None:
    """Write a checked plan in one transaction (the caller refuses plans with errors).

    An import restores what an export (or the operator's file) says, statuses included: it is
    the operator's data load, not a subscriber's request, so the transition table does not apply.
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        cursor = subscriber_store.initial_cursor(conn, now)
        rows = [
            subscriber_store.new_row(p.spec, now=p.kept.get("created_at", now), cursor=cursor,
                                     feed_token=p.kept.get("feed_token")) | _kept_stamps(p.kept)
            for p in plan.create
        ]
        subscriber_store.insert_many(conn, rows)
        existing = subscriber_store.existing_keys(conn, (email_key(p.spec.email) for p, _ in plan.update))
        for planned, changed in plan.update:
            row = existing[email_key(planned.spec.email)]
            subscriber_store.change(conn, row.id, changed, now=now)
            hold_if_rescheduled(conn, row.id, changed, now=now)


def _kept_stamps(kept: dict) -> dict:
    return {"confirmed_at": kept["confirmed_at"]} if "confirmed_at" in kept else {}
