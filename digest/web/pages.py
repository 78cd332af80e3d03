"""Subscribe and confirm: `GET /`, `POST /subscribe`, `GET` and `POST /confirm/{token}`.

No enumeration: whether an address is new, pending, active, paused, unsubscribed or
bounced, `POST /subscribe` answers with the same status and the same bytes. What happens
behind that page differs (see `register`), and nothing is ever sent from a request: rows
are written and the outbox sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest import jobs
from digest.compose import describe_schedule
from digest.links import CONFIRM_MAX_AGE
from digest.store import outbox
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.subscribers import DuplicateSubscriber
from digest.subscribers import SubscriberSpec
from digest.tokens import BadToken, read_token
from digest.web import queries
from digest.web.context import Web
from digest.web.forms import DAYS, DEFAULTS, HOURS, SUBSCRIBE_FIELDS, FieldError, form_values, timezone_choices, validate
from digest.web.security import client_key

# A known pending address gets at most one fresh confirmation email per this interval,
# however often (and from however many addresses) the form is posted for it.
CONFIRM_RESEND_INTERVAL = timedelta(minutes=15)
# What a repeated sign-up may change on a not-yet-confirmed subscriber: the confirmation
# email shows these, so the person confirming sees exactly what they agree to.
_RENEWABLE = ("interests", "timezone", "send_hour", "frequency", "weekday")


def router(web: Web) -> APIRouter:
    routes = APIRouter()

    @routes.get("/", response_class=HTMLResponse)
    @routes.get("/subscribe", response_class=HTMLResponse, include_in_schema=False)
    def subscribe_form(request: Request) -> HTMLResponse:
        return form_page(web, request, dict(DEFAULTS), {}, detect_zone=True)

    @routes.post("/subscribe", response_class=HTMLResponse)
    async def subscribe(request: Request) -> HTMLResponse:
        retry = web.limiter.hit(client_key(request.client.host if request.client else None))
        if retry is not None:
            minutes = max(1, round(retry / 60))
            return web.error(request, 429, "Too many sign-ups from your network",
                             f"Please try again in about {minutes} minute{'s' if minutes != 1 else ''}.",
                             headers={"Retry-After": str(retry)})
        form = await request.form()
        if not web.csrf.valid(request, form):
            return web.error(request, 403, "This form has expired",
                             "For your security the form must be loaded again before it is sent, "
                             "with cookies allowed for this site. Nothing was saved.")
        values = form_values(form, SUBSCRIBE_FIELDS)
        spec, errors = validate(values)
        if spec is None:
            return form_page(web, request, values, errors, status=400)
        await run_in_threadpool(register, web.engine, spec, web.clock())
        # The same bytes for every valid sign-up: nothing about the address or its state.
        return web.page(request, "subscribed.html", hours=int(CONFIRM_MAX_AGE.total_seconds() // 3600))

    def confirm_subject(request: Request, token: str) -> int | HTMLResponse:
        try:
            return int(read_token(web.secret, "confirm", token, int(CONFIRM_MAX_AGE.total_seconds())))
        except (BadToken, ValueError) as err:
            expired = "expired" in str(err)
            return web.error(request, 400, "This link has expired" if expired else "This link does not work",
                             "Confirmation links work for three days. Subscribe again to get a new one."
                             if expired else "It may have been cut short by your email program. "
                             "Copy the whole link from the email, or subscribe again.")

    @routes.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str) -> HTMLResponse:
        """A button, not the confirmation itself: mail scanners fetch every link in an
        email, and a GET that confirmed would let them opt anyone in."""
        subject = confirm_subject(request, token)
        if isinstance(subject, HTMLResponse):
            return subject
        return web.page(request, "confirm.html", action=str(request.url.path))

    @routes.post("/confirm/{token}", response_class=HTMLResponse)
    def confirm(request: Request, token: str) -> HTMLResponse:
        subject = confirm_subject(request, token)
        if isinstance(subject, HTMLResponse):
            return subject
        row = activate(web.engine, subject, web.clock())
        if row is None or row.status not in ("active", "paused"):
            return web.error(request, 400, "This subscription has ended",
                             "You unsubscribed (or the address was removed) after this link was sent. "
                             "Subscribe again if you want the digest back.")
        return web.page(request, "confirmed.html", email=row.email,
                        schedule=describe_schedule(subscriber_store.to_subscriber(row)),
                        manage_url=web.manage_link(row.id), feeds=web.feed_links(row.feed_token))

    return routes


def form_page(web: Web, request: Request, values: dict[str, str], errors: dict[str, FieldError], *,
              status: int = 200, detect_zone: bool = False) -> HTMLResponse:
    """The subscribe form with the user's values and an error next to each bad field."""
    return web.page(request, "subscribe.html", status=status, form=True, values=values, errors=errors,
                    zones=timezone_choices(), hours=HOURS, days=DAYS, detect_zone=detect_zone)


def register(engine: Engine, spec: SubscriberSpec, now: datetime) -> None:
    """Act on a valid sign-up; the caller shows the same page whatever happens here.

    New address: a pending subscriber and a queued confirmation (`jobs.add_subscriber`).
    Known and pending or unsubscribed: the preferences are replaced, the status becomes
    pending and a fresh confirmation is queued, unless one was queued within
    CONFIRM_RESEND_INTERVAL (so the form cannot be used to flood a mailbox). Known and
    active or paused: nothing (they manage settings from their emails). Bounced: nothing
    (mail to it bounces; writing again would hurt the sender's reputation).
    """
    try:
        jobs.add_subscriber(engine, spec, now=now)
    except DuplicateSubscriber:
        _renew(engine, spec, now)


def _renew(engine: Engine, spec: SubscriberSpec, now: datetime) -> None:
    with write_transaction(engine) as conn:
        row = subscriber_store.find(conn, spec.email)
        if row is None or row.status not in ("pending", "unsubscribed"):
            return
        last = queries.last_confirmation_at(conn, row.id)
        if last is not None and now - last < CONFIRM_RESEND_INTERVAL:
            return
        wanted = spec.model_dump()
        changed = {name: wanted[name] for name in _RENEWABLE if getattr(row, name) != wanted[name]}
        if row.status != "pending":
            changed["status"] = "pending"
        if changed:
            subscriber_store.change(conn, row.id, changed, now=now)
        outbox.queue_confirmation(conn, row.id, now=now)


def activate(engine: Engine, subscriber_id: int, now: datetime):
    """Make a pending subscriber active; returns the row as it ends up (None: removed)."""
    with write_transaction(engine) as conn:
        row = subscriber_store.by_id(conn, subscriber_id)
        if row is None or row.status != "pending":
            return row
        subscriber_store.change(conn, row.id, {"status": "active"}, now=now)
        return subscriber_store.by_id(conn, row.id)
