"""What every route shares: settings, engine, signing keys, templates, CSRF, caches, health.

One `Web` object per app (no module globals), handed to each router factory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import jinja2
from markupsafe import Markup, escape
from sqlalchemy import Engine, Row
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.compose import safe_url, templates_dir
from digest.config import Settings
from digest.health import Health
from digest.jobs import rate_limits
from digest.jobs.common import utcnow
from digest.jobs.subscribers import subscriber_for_link
from digest.links import LinkOwner, feed_url, manage_url
from digest.jobs.feeds import IndexCache
from digest.tokens import BadToken
from digest.web.security import Csrf, client_key, exact_token

SITE_NAME = "Paper Digest"
_B_TAG = re.compile(r"</?b>")
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def safe_snippet(snippet: str) -> Markup:
    """A ranking snippet as markup, but only after checking it is what the ranker promises:
    escaped text whose only tags are balanced, unnested <b>...</b>. Anything else is shown
    escaped (visible tags beat injected ones)."""
    text = snippet or ""
    tags = _B_TAG.findall(text)
    balanced = all(tag == ("<b>" if i % 2 == 0 else "</b>") for i, tag in enumerate(tags)) and len(tags) % 2 == 0
    rest = _ENTITY.sub("", _B_TAG.sub("", text))
    if balanced and not any(ch in rest for ch in "<>&"):
        return Markup(text)
    return escape(text)


def make_templates() -> jinja2.Environment:
    """The web pages' Jinja environment: autoescaped, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["snippet"] = safe_snippet
    env.filters["safe_url"] = safe_url
    env.globals["site_name"] = SITE_NAME
    return env


@dataclass
class Web:
    """The app's shared state and the helpers that render pages."""

    settings: Settings
    engine: Engine
    keys: tuple[str, ...]  # signing keys: the current first, then the previous one in a rollover
    templates: jinja2.Environment
    csrf: Csrf
    health: Health = field(default_factory=Health)
    indexes: IndexCache = field(default_factory=IndexCache)
    clock: Callable[[], datetime] = utcnow
    # Wakes the sign-up task after a sign-up is queued (set by the app at startup).
    wake_signups: Callable[[], None] = lambda: None

    @property
    def secret(self) -> str:
        """The key new links and forms are signed with."""
        return self.keys[0]

    def page(self, request: Request, template: str, *, status: int = 200, form: bool = False,
             headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        """Render `template`; with `form`, a CSRF token is added (and its cookie set if new).

        Pages are never cached: they hold CSRF tokens, tokens in links or personal data.
        """
        fresh = None
        if form:
            context["csrf_token"], fresh = self.csrf.token_for(request)
        context.setdefault("base_url", self.settings.base_url)
        body = self.templates.get_template(template).render(**context)
        response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
        self.csrf.set_cookie(response, fresh)
        return response

    def error(self, request: Request, status: int, title: str, message: str, *,
              headers: dict[str, str] | None = None, back: str | None = None) -> HTMLResponse:
        """The one error page: a heading, a sentence, and a way on."""
        return self.page(request, "error.html", status=status, headers=headers, title=title, message=message,
                         back=back or "/")

    def link_subject(self, purpose: str, token: str) -> Row:
        """The subscriber a signed link acts on (`jobs.subscribers.subscriber_for_link`), only
        for the token exactly as it was sent (`security.exact_token`). Raises BadToken or
        LinkGone. Blocking (database): call from a thread."""
        if not exact_token(token):
            raise BadToken()
        with self.engine.connect() as conn:
            return subscriber_for_link(conn, self.keys, purpose, token)[0]

    def manage_link(self, owner: LinkOwner) -> str:
        return manage_url(self.settings.base_url, self.secret, owner)

    def feed_links(self, feed_token: str) -> dict[str, str]:
        return {fmt: feed_url(self.settings.base_url, feed_token, fmt) for fmt in ("atom", "rss")}

    def limited(self, request: Request, limit: rate_limits.Limit, key: str | None = None) -> HTMLResponse | None:
        """Count this request against `limit` (by `key`, else the client's network): None when
        allowed, else the 429 page with Retry-After. Blocking (database): call from a thread."""
        retry = rate_limits.hit(self.engine, limit, key or client_key(request.client.host if request.client else None),
                                now=self.clock())
        if retry is None:
            return None
        minutes = max(1, round(retry / 60))
        return self.error(request, 429, "Too many requests",
                          f"Please try again in about {minutes} minute{'s' if minutes != 1 else ''}.",
                          headers={"Retry-After": str(retry)})
