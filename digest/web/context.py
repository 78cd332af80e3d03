"""What every route shares: settings, engine, signing secret, templates, CSRF, caches.

One `Web` object per app (no module globals), handed to each router factory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import jinja2
from markupsafe import Markup, escape
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.compose import safe_url, templates_dir
from digest.config import Settings
from digest.jobs.common import utcnow
from digest.links import feed_url, manage_url
from digest.web.feed_data import IndexCache
from digest.web.security import Csrf, RateLimiter

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
    secret: str
    templates: jinja2.Environment
    csrf: Csrf
    limiter: RateLimiter
    indexes: IndexCache = field(default_factory=IndexCache)
    clock: Callable[[], datetime] = utcnow

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

    def manage_link(self, subscriber_id: int) -> str:
        return manage_url(self.settings.base_url, self.secret, subscriber_id)

    def feed_links(self, feed_token: str) -> dict[str, str]:
        return {fmt: feed_url(self.settings.base_url, feed_token, fmt) for fmt in ("atom", "rss")}
