"""Manage and unsubscribe: `/manage/{token}` and `/unsubscribe/{token}`.

Both tokens are signed subscriber ids that never expire (an old email's links keep
working); a forged or edited one gets a 400 and changes nothing.

Unsubscribe follows RFC 8058: `GET` only shows a button (mail scanners fetch links, so a
GET must change nothing) and `POST` unsubscribes, with no cookie, no CSRF token and no
redirect, because mail clients send `List-Unsubscribe=One-Click` from outside any browser
session. The signed token in the URL is the authorisation, so the body is not required.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Engine, Row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest import jobs
from digest.compose import describe_schedule
from digest.errors import NotFoundError
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.subscribers import SubscriberSpec
from digest.text import display_ranked
from digest.tokens import BadToken, read_token
from digest.web.context import Web
from digest.web.feed_data import preview
from digest.web.forms import DAYS, HOURS, MANAGE_FIELDS, FieldError, form_values, row_values, timezone_choices, validate

PREVIEW_LIMIT = 10
_NOTICES = {
    "saved": "Your preferences are saved.",
    "paused": "Your digest is paused. Resume whenever you like.",
    "resumed": "Your digest is on again.",
}
# Which statuses each button moves from, and to what.
_MOVES = {"pause": ({"active"}, "paused"), "resume": ({"paused", "unsubscribed"}, "active"),
          "unsubscribe": ({"pending", "active", "paused", "bounced"}, "unsubscribed")}


def router(web: Web) -> APIRouter:
    routes = APIRouter()

    def subscriber_id(token: str, purpose: str) -> int | None:
        try:
            return int(read_token(web.secret, purpose, token, None))
        except (BadToken, ValueError):
            return None

    def bad_link(request: Request) -> HTMLResponse:
        return web.error(request, 400, "This link does not work",
                         "It may have been cut short by your email program. Copy the whole link from one "
                         "of your digests. Nothing was changed.")

    def gone(request: Request) -> HTMLResponse:
        return web.error(request, 404, "No such subscription",
                         "This address is no longer on our list. You can subscribe again.")

    @routes.get("/manage/{token}", response_class=HTMLResponse)
    def manage_form(request: Request, token: str) -> HTMLResponse:
        sid = subscriber_id(token, "manage")
        if sid is None:
            return bad_link(request)
        row = _load(web.engine, sid)
        return gone(request) if row is None else manage_page(web, request, row, row_values(row), {})

    @routes.post("/manage/{token}", response_class=HTMLResponse)
    async def manage_post(request: Request, token: str) -> HTMLResponse:
        sid = subscriber_id(token, "manage")
        if sid is None:
            return bad_link(request)
        form = await request.form()
        if not web.csrf.valid(request, form):
            return web.error(request, 403, "This form has expired",
                             "For your security the page must be loaded again before it is sent. "
                             "Nothing was changed.", back=request.url.path)
        action = form.get("action", "save")
        if action not in ("save", *_MOVES):
            return web.error(request, 400, "Unknown action", "Nothing was changed.", back=request.url.path)
        values = form_values(form, MANAGE_FIELDS)
        return await run_in_threadpool(respond, request, sid, str(action), values)

    def respond(request: Request, sid: int, action: str, values: dict[str, str]) -> HTMLResponse:
        outcome = _apply(web, sid, action, values)
        if outcome is None:
            return gone(request)
        row, errors, notice = outcome
        if notice == "unsubscribed":
            return unsubscribed_page(web, request, row)
        shown = values if errors else row_values(row)
        return manage_page(web, request, row, shown, errors, notice=_NOTICES.get(notice or ""),
                           status=400 if errors else 200)

    @routes.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_form(request: Request, token: str) -> HTMLResponse:
        if subscriber_id(token, "unsubscribe") is None:
            return bad_link(request)
        return web.page(request, "unsubscribe.html", action=request.url.path)

    @routes.post("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe(request: Request, token: str) -> HTMLResponse:
        sid = subscriber_id(token, "unsubscribe")
        if sid is None:
            return bad_link(request)
        row = _move(web, sid, "unsubscribe")
        return unsubscribed_page(web, request, row)

    return routes


def _load(engine: Engine, sid: int) -> Row | None:
    with engine.connect() as conn:
        return subscriber_store.by_id(conn, sid)


def _move(web: Web, sid: int, action: str) -> Row | None:
    """Apply a pause/resume/unsubscribe button if the current status allows it."""
    allowed, target = _MOVES[action]
    with write_transaction(web.engine) as conn:
        row = subscriber_store.by_id(conn, sid)
        if row is None or row.status not in allowed:
            return row
        subscriber_store.change(conn, sid, {"status": target}, now=web.clock())
        return subscriber_store.by_id(conn, sid)


def _apply(web: Web, sid: int, action: str, values: dict[str, str]) -> tuple[Row, dict[str, FieldError], str | None] | None:
    """Run one manage action: (row after, field errors, notice key), or None if the subscriber is gone."""
    if action in _MOVES:
        row = _move(web, sid, action)
        notice = {"pause": "paused", "resume": "resumed", "unsubscribe": "unsubscribed"}[action]
        return None if row is None else (row, {}, notice)
    row = _load(web.engine, sid)
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


def manage_page(web: Web, request: Request, row: Row, values: dict[str, str], errors: dict[str, FieldError], *,
                notice: str | None = None, status: int = 200) -> HTMLResponse:
    """Preferences form, status buttons and a preview of the stored keywords' last 7 days."""
    with web.engine.connect() as conn:
        ranked = preview(conn, web.indexes, row.interests or "", now=web.clock(), limit=PREVIEW_LIMIT)
    ranked = [display_ranked(item) for item in ranked]  # titles and snippets as readers see them
    return web.page(
        request, "manage.html", status=status, form=True, row=row, values=values, errors=errors, notice=notice,
        action=request.url.path, ranked=ranked, zones=timezone_choices(), hours=HOURS, days=DAYS,
        schedule=describe_schedule(subscriber_store.to_subscriber(row)), feeds=web.feed_links(row.feed_token),
    )


def unsubscribed_page(web: Web, request: Request, row: Row | None) -> HTMLResponse:
    manage = web.manage_link(row.id) if row is not None else None
    return web.page(request, "unsubscribed.html", manage_url=manage)
