"""Subscribe and confirm: `GET /`, `POST /subscribe`, `GET` and `POST /confirm/{token}`.

No enumeration: whether an address is new, pending, active, paused, unsubscribed or
bounced, `POST /subscribe` does the same thing, one row in the sign-up queue, and answers
with the same status and bytes; the web app's background task applies the queue later
(`jobs.signups.register`). Nothing is ever sent from a request: rows are written and
the outbox sends.

A confirmation link is bound to the subscriber it was made for (see `digest.tokens`) and
works for three days; its GET only shows a button (mail scanners fetch links).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.jobs import rate_limits
from digest.jobs.signups import queue_signup
from digest.jobs.subscriber_views import schedule_text
from digest.jobs.subscribers import Action, InvalidMove, LinkGone, apply_action
from digest.links import CONFIRM_MAX_AGE
from digest.tokens import BadToken
from digest.web.context import Web
from digest.web.forms import (
    DAYS,
    DEFAULTS,
    HOURS,
    SUBSCRIBE_FIELDS,
    FieldError,
    form_values,
    timezone_choices,
    validate,
)
from digest.web.security import site_key

# An IPv6 site's /48 may sign up this many times the per-network allowance: a department or a
# home behind one /48 still signs up freely, a /48's 65,536 /64s are not 65,536 allowances.
SITE_SHARE = 5


# Long by design: FastAPI routes are closures over `web`; each route is short, and the factory
# is as long as the routes it holds.
def router(web: Web) -> APIRouter:
    routes = APIRouter()
    signups = rate_limits.signup_limit(web.settings.subscribe_rate_per_hour)
    site_signups = rate_limits.Limit("signup_site", ((SITE_SHARE * web.settings.subscribe_rate_per_hour,
                                                      rate_limits.HOUR),))

    def limited_signup(request: Request) -> HTMLResponse | None:
        """The 429 page when this client's network, or for IPv6 its whole site, has used up
        its sign-ups (blocking: call in a thread)."""
        refused = web.limited(request, signups)
        site = site_key(request.client.host if request.client else None)
        if refused is None and site is not None:
            refused = web.limited(request, site_signups, key=f"site:{site}")
        return refused

    @routes.get("/", response_class=HTMLResponse)
    @routes.get("/subscribe", response_class=HTMLResponse, include_in_schema=False)
    def subscribe_form(request: Request) -> HTMLResponse:
        return form_page(web, request, dict(DEFAULTS), {}, detect_zone=True)

    @routes.post("/subscribe", response_class=HTMLResponse)
    async def subscribe(request: Request) -> HTMLResponse:
        limited = await run_in_threadpool(limited_signup, request)
        if limited is not None:
            return limited
        form = await request.form()
        if not web.csrf.allows(request, form):
            return web.error(request, 403, "This form has expired",
                             "For your security the form must be loaded again before it is sent, "
                             "with cookies allowed for this site. Nothing was saved.")
        values = form_values(form, SUBSCRIBE_FIELDS)
        spec, errors = validate(values)
        if spec is None:
            return form_page(web, request, values, errors, status=400)
        await run_in_threadpool(queue_signup, web.engine, spec, now=web.clock())
        web.wake_signups()
        # The same bytes for every valid sign-up: nothing about the address or its state.
        return web.page(request, "subscribed.html", hours=int(CONFIRM_MAX_AGE.total_seconds() // 3600))

    def confirm_subject(request: Request, token: str):
        """The subscriber row the link confirms, or the error page to show instead."""
        try:
            return web.link_subject("confirm", token)
        except BadToken as err:
            return web.error(request, 400, "This link has expired" if err.expired else "This link does not work",
                             "Confirmation links work for three days. Subscribe again to get a new one."
                             if err.expired else "It may have been cut short by your email program. "
                             "Copy the whole link from the email, or subscribe again.")
        except LinkGone:
            return ended(request)

    def ended(request: Request) -> HTMLResponse:
        return web.error(request, 400, "This subscription has ended",
                         "You unsubscribed (or the address was removed) after this link was sent. "
                         "Subscribe again if you want the digest back.")

    @routes.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str) -> HTMLResponse:
        """A button, not the confirmation itself: mail scanners fetch every link in an
        email, and a GET that confirmed would let them opt anyone in."""
        row = confirm_subject(request, token)
        if isinstance(row, HTMLResponse):
            return row
        return web.page(request, "confirm.html", action=str(request.url.path))

    @routes.post("/confirm/{token}", response_class=HTMLResponse)
    def confirm(request: Request, token: str) -> HTMLResponse:
        limited = web.limited(request, rate_limits.CONFIRM_POSTS)
        if limited is not None:
            return limited
        row = confirm_subject(request, token)
        if isinstance(row, HTMLResponse):
            return row
        try:  # the table refuses anyone who unsubscribed or bounced since the link was sent
            result = apply_action(web.engine, row.id, Action.CONFIRM, now=web.clock())
        except InvalidMove:
            return ended(request)
        if result is None:
            return ended(request)
        row = result.row
        return web.page(request, "confirmed.html", email=row.email,
                        schedule=schedule_text(row),
                        manage_url=web.manage_link(row), feeds=web.feed_links(row.feed_token))

    return routes


def form_page(web: Web, request: Request, values: dict[str, str], errors: dict[str, FieldError], *,
              status: int = 200, detect_zone: bool = False) -> HTMLResponse:
    """The subscribe form with the user's values and an error next to each bad field."""
    return web.page(request, "subscribe.html", status=status, form=True, values=values, errors=errors,
                    zones=timezone_choices(), hours=HOURS, days=DAYS, detect_zone=detect_zone)
