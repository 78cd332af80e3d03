"""Manage and unsubscribe: `/manage/{token}` and `/unsubscribe/{token}`.

Both tokens name a subscriber and are bound to their link secret (see `digest.tokens`): a
forged or edited one gets a 400 and changes nothing, and one made for a subscriber who is
no longer on the list gets a 404, whoever holds that row number now. A manage link works
for 60 days (each digest brings a fresh one); an unsubscribe link for a year, and it can
only unsubscribe: its page never leads to the manage page. Status buttons go through the
one transition table (`jobs.subscribers`): resuming after an unsubscribe or a bounce only
queues a new confirmation email.

Unsubscribe follows RFC 8058: `GET` only shows a button (mail scanners fetch links, so a
GET must change nothing) and `POST` unsubscribes, with no cookie, no CSRF token and no
redirect, because mail clients send `List-Unsubscribe=One-Click` from outside any browser
session. The signed token in the URL is the authorisation, so the body is not required.
Its rate limit counts per subscriber, never per network (mail providers post for everyone).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest import jobs
from digest.errors import NotFoundError, QueryError
from digest.jobs import rate_limits
from digest.jobs.subscribers import Action, ConfirmMail, InvalidMove, LinkGone, MoveResult
from digest.jobs.subscriber_views import schedule_text, subscriber_by_id
from digest.subscribers import SubscriberSpec
from digest.text import display_ranked
from digest.tokens import BadToken
from digest.web import likes
from digest.web.context import Web
from digest.jobs.feeds import preview
from digest.web.forms import DAYS, HOURS, MANAGE_FIELDS, FieldError, form_values, row_values, timezone_choices, validate

PREVIEW_LIMIT = 10
_NOTICES = {
    "saved": "Your preferences are saved.",
    "paused": "Your digest is paused. Resume whenever you like.",
    "resumed": "Your digest is on again.",
    "confirm": "We have emailed you a confirmation link: your digest starts again when you click it.",
    "limited": "A confirmation link was emailed to you a short while ago: click it to start your digest again.",
    "unchanged": "Nothing changed.",
}
_BUTTONS = (Action.PAUSE, Action.RESUME, Action.UNSUBSCRIBE)
_LIKES = likes.ACTIONS


# Long by design: FastAPI routes are closures over `web`; each route is short, and the factory
# is as long as the routes it holds.
def router(web: Web) -> APIRouter:
    routes = APIRouter()

    def subscriber(request: Request, token: str, purpose: str) -> Row | HTMLResponse:
        """The row a link acts on, or the page to show instead (blocking: call in a thread)."""
        try:
            return web.link_subject(purpose, token)
        except BadToken as err:
            return expired(request, purpose) if err.expired else bad_link(request)
        except LinkGone:
            return gone(request)

    def bad_link(request: Request) -> HTMLResponse:
        return web.error(request, 400, "This link does not work",
                         "It may have been cut short by your email program. Copy the whole link from one "
                         "of your digests. Nothing was changed.")

    def expired(request: Request, purpose: str) -> HTMLResponse:
        how = ("Manage links work for 60 days, and every digest brings a new one: use the link in your latest "
               "digest. Paused? Sign up again with the same address and confirm from the email to resume."
               if purpose == "manage" else
               "Use the unsubscribe link in a recent digest, or reply to one asking to unsubscribe.")
        return web.error(request, 400, "This link has expired", how)

    def gone(request: Request) -> HTMLResponse:
        return web.error(request, 404, "No such subscription",
                         "This address is no longer on our list. You can subscribe again.")

    @routes.get("/manage/{token}", response_class=HTMLResponse)
    def manage_form(request: Request, token: str) -> HTMLResponse:
        row = subscriber(request, token, "manage")
        return row if isinstance(row, HTMLResponse) else manage_page(web, request, row, row_values(row), {})

    @routes.post("/manage/{token}", response_class=HTMLResponse)
    async def manage_post(request: Request, token: str) -> HTMLResponse:
        limited = await run_in_threadpool(web.limited, request, rate_limits.MANAGE_POSTS)
        if limited is not None:
            return limited
        row = await run_in_threadpool(subscriber, request, token, "manage")
        if isinstance(row, HTMLResponse):
            return row
        form = await request.form()
        if not web.csrf.allows(request, form):
            return web.error(request, 403, "This form has expired",
                             "For your security the page must be loaded again before it is sent. "
                             "Nothing was changed.", back=request.url.path)
        action = str(form.get("action", "save"))
        if action in _LIKES:
            return await run_in_threadpool(likes_respond, request, row.id, action, form)
        if action not in ("save", *_BUTTONS):
            return web.error(request, 400, "Unknown action", "Nothing was changed.", back=request.url.path)
        values = form_values(form, MANAGE_FIELDS)
        return await run_in_threadpool(respond, request, row.id, action, values)

    def respond(request: Request, sid: int, action: str, values: dict[str, str]) -> HTMLResponse:
        outcome = _apply(web, sid, action, values)
        if outcome is None:
            return gone(request)
        row, errors, notice = outcome
        if row.status == "unsubscribed" and action == Action.UNSUBSCRIBE:
            return unsubscribed_page(web, request, manage_path=request.url.path)
        shown = values if errors else row_values(row)
        return manage_page(web, request, row, shown, errors, notice=_NOTICES.get(notice or ""),
                           status=400 if errors else 200)

    def likes_respond(request: Request, sid: int, action: str, form: Any) -> HTMLResponse:
        errors, notice = likes.apply(web, sid, action, form)
        row = subscriber_store_row(web, sid)
        if row is None:
            return gone(request)
        return manage_page(web, request, row, row_values(row), errors, notice=notice, status=400 if errors else 200,
                           pasted=str(form.get("ids", "")) if errors else "")

    @routes.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_form(request: Request, token: str) -> HTMLResponse:
        row = subscriber(request, token, "unsubscribe")
        if isinstance(row, HTMLResponse):
            return row
        return web.page(request, "unsubscribe.html", action=request.url.path)

    @routes.post("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe(request: Request, token: str) -> HTMLResponse:
        row = subscriber(request, token, "unsubscribe")
        if isinstance(row, HTMLResponse):
            return row
        limited = web.limited(request, rate_limits.UNSUBSCRIBE_POSTS, key=f"subscriber:{row.id}")
        if limited is not None:
            return limited
        try:
            jobs.apply_action(web.engine, row.id, Action.UNSUBSCRIBE, now=web.clock())
        except InvalidMove:  # cannot happen from any status today; never a 500 if the table changes
            pass
        # An unsubscribe link can do nothing else: the page offers the sign-up form, not the manage page.
        return unsubscribed_page(web, request, manage_path=None)

    return routes


def _apply(web: Web, sid: int, action: str, values: dict[str, str]) -> tuple[Row, dict[str, FieldError], str | None] | None:
    """Run one manage action: (row after, field errors, notice key), or None if the subscriber is gone."""
    if action in _BUTTONS:
        try:
            result = jobs.apply_action(web.engine, sid, Action(action), now=web.clock())
        except InvalidMove:
            row = subscriber_store_row(web, sid)
            return None if row is None else (row, {}, "unchanged")
        return None if result is None else (result.row, {}, _notice(Action(action), result))
    row = subscriber_store_row(web, sid)
    if row is None:
        return None
    merged: dict[str, Any] = {name: getattr(row, name) for name in SubscriberSpec.model_fields} | values
    spec, errors = validate(merged)
    if spec is None:
        return row, errors, None
    wanted = spec.model_dump()
    changed = {name: wanted[name] for name in MANAGE_FIELDS if getattr(row, name) != wanted[name]}
    if changed:
        try:
            row = jobs.update_subscriber(web.engine, row.email, changed, now=web.clock())
        except NotFoundError:  # removed between reading and writing
            return None
    return row, {}, "saved"


def _notice(action: Action, result: MoveResult) -> str:
    if result.mail == ConfirmMail.QUEUED:
        return "confirm"
    if result.mail == ConfirmMail.LIMITED:
        return "limited"
    if not result.changed:
        return "unchanged"
    return {Action.PAUSE: "paused", Action.RESUME: "resumed", Action.UNSUBSCRIBE: "unsubscribed"}[action]


def subscriber_store_row(web: Web, sid: int) -> Row | None:
    return subscriber_by_id(web.engine, sid)


def manage_page(web: Web, request: Request, row: Row, values: dict[str, str], errors: dict[str, FieldError], *,
                notice: str | None = None, status: int = 200, pasted: str = "") -> HTMLResponse:
    """Preferences form, status buttons and a preview of the stored keywords' last 7 days."""
    with web.engine.connect() as conn:
        try:
            ranked = preview(conn, web.indexes, row.interests or "", now=web.clock(), limit=PREVIEW_LIMIT)
        except QueryError:  # a query the ranker refuses once normalised: the page must still open
            ranked = []
    ranked = [display_ranked(item) for item in ranked]  # titles and snippets as readers see them
    return web.page(
        request, "manage.html", status=status, form=True, row=row, values=values, errors=errors, notice=notice,
        action=request.url.path, ranked=ranked, zones=timezone_choices(), hours=HOURS, days=DAYS,
        schedule=schedule_text(row), feeds=web.feed_links(row.feed_token),
        voted=likes.shown(web, row.id), pasted=pasted,
    )


def unsubscribed_page(web: Web, request: Request, *, manage_path: str | None) -> HTMLResponse:
    """After unsubscribing. From the manage page, a way back to it; from an unsubscribe link, only
    the sign-up form (that link must not open the subscriber's settings)."""
    return web.page(request, "unsubscribed.html", manage_url=manage_path)
