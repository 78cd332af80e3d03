"""The app factory: `create_app(settings, engine=None) -> FastAPI`.

Routes (see each module): pages (`/`, `/subscribe`, `/confirm/{token}`), manage
(`/manage/{token}`, `/unsubscribe/{token}`), feeds (`/feeds/...`), metrics (`/healthz`,
`/metrics`), plus `/static/tz.js` and `/robots.txt`.

Requests never send mail: they change rows, and the outbox (`digest run`) sends.
Database work is synchronous SQLAlchemy in `def` endpoints (FastAPI runs them in its
thread pool) or handed to the pool explicitly from `async` ones that read a form.

Around every request (outermost first): X-Forwarded-For/-Proto believed only from
DIGEST_TRUSTED_PROXIES (uvicorn's ProxyHeadersMiddleware; none by default), the access log,
the security headers, and the 64 KB body cap. While the app runs, a background task applies
queued sign-ups (`jobs.signups.process_signups`) and prunes old rate-limit events; its
failures turn `/healthz` red (`digest.health`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager, suppress
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from digest.config import Settings
from digest.health import Health
from digest.jobs import rate_limits
from digest.jobs.signups import process_signups
from digest.store.db import open_engine
from digest.web import feed_routes, feedback, manage, metrics, pages
from digest.web.access_log import AccessLog, redact_path
from digest.web.context import Web, make_templates
from digest.web.security import BodyLimit, Csrf, SecurityHeaders, security_headers

log = logging.getLogger("digest.web")

HTTP_BASE_WARNING = "base URL is http://: links in emails are not secure; use https in production"
METRICS_OFF = "/metrics is off: set DIGEST_METRICS_TOKEN to scrape it with a bearer token"
# Queued sign-ups are applied at once when this process queued them, else within this many
# seconds (sign-ups queued by another process that stopped).
SIGNUP_POLL_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 3600.0

# Runs only where the browser allows scripts; the select already defaults to UTC without it.
TZ_SCRIPT = """(function () {
  var select = document.getElementById("timezone");
  if (!select || !select.hasAttribute("data-detect")) return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  for (var i = 0; i < select.options.length; i++) {
    var option = select.options[i];  // data-alias: older names browsers report (Asia/Calcutta)
    var aliases = " " + (option.getAttribute("data-alias") || "") + " ";
    if (option.value === zone || aliases.indexOf(" " + zone + " ") >= 0) { select.value = option.value; return; }
  }
})();
"""
ROBOTS = ("User-agent: *\nDisallow: /confirm/\nDisallow: /manage/\nDisallow: /unsubscribe/\nDisallow: /feedback/\n"
          "Disallow: /feeds/s/\n")
_PLAIN_PREFIXES = ("/feeds/", "/metrics", "/healthz", "/static/")


# Long by design: one place wires every router, middleware and background task of the app.
def create_app(settings: Settings, engine: Engine | None = None, *, feed_cache_size: int = 256,
               feed_state_ttl: float = 1.0, health: Health | None = None) -> FastAPI:
    """The web app over `engine` (opened from settings.database_url when None, and then
    disposed at shutdown). Raises ConfigError when no secret key is set: every link and
    form is signed with it.

    `feed_cache_size` built feeds are kept; a feed request's resolved state is reused for
    `feed_state_ttl` seconds (0: looked up on every request). See `feed_routes`. `health`
    is shared with the process's other parts (`digest serve`) so `/healthz` reports them.
    """
    keys = settings.signing_keys()
    owned = engine is None
    engine = engine if engine is not None else open_engine(settings.database_url)
    if settings.base_url.startswith("http://"):
        log.warning(HTTP_BASE_WARNING)
    if settings.metrics_token is None:
        log.info(METRICS_OFF)
    https = settings.base_url.startswith("https://")
    web = Web(settings=settings, engine=engine, keys=keys, templates=make_templates(),
              csrf=Csrf(keys, secure_cookie=https), health=health or Health())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        wake = asyncio.Event()
        web.wake_signups = wake.set
        task = asyncio.create_task(signup_task(web, wake), name="signups")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            if owned:
                engine.dispose()

    # No trailing-slash redirects: Starlette builds them from the request's Host header, so
    # `GET /manage/<token>/` with `Host: evil.example` sent the token on to evil.example.
    app = FastAPI(title="Paper Digest", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  redirect_slashes=False)
    app.state.web = web
    app.state.feed_cache = feed_routes.FeedCache(feed_cache_size)
    app.state.feed_memo = feed_routes.PlanMemo(feed_state_ttl)
    app.include_router(pages.router(web))
    app.include_router(manage.router(web))
    app.include_router(feedback.router(web))
    app.include_router(feed_routes.router(web, app.state.feed_cache, app.state.feed_memo))
    token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else None
    app.include_router(metrics.router(engine, token=token, health=web.health))
    _static_routes(app)
    _error_handlers(app, web, https=https)
    # Outermost last: the body cap before anything reads a body, headers on every response
    # (413s included), the access log times everything, and the client address is settled
    # (trusted proxies only) before anyone uses it.
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, https=https)
    app.add_middleware(AccessLog)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


async def signup_task(web: Web, wake: asyncio.Event) -> None:
    """Apply queued sign-ups when woken (or every SIGNUP_POLL_SECONDS) and prune old
    rate-limit events hourly, until cancelled. A failure marks "signups" failing in
    `web.health` (logged once) until a round succeeds."""
    pruned = 0.0
    while True:
        with suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), SIGNUP_POLL_SECONDS)
        wake.clear()
        try:
            await run_in_threadpool(process_signups, web.engine, now=web.clock())
            if time.monotonic() - pruned > PRUNE_EVERY_SECONDS:
                await run_in_threadpool(rate_limits.prune, web.engine, now=web.clock())
                pruned = time.monotonic()
        except Exception as err:  # noqa: BLE001 - any failure is reported, and the task goes on
            web.health.fail("signups", err)
        else:
            web.health.recover("signups")


def _static_routes(app: FastAPI) -> None:
    @app.get("/static/tz.js", include_in_schema=False)
    def tz_script() -> Response:
        return Response(TZ_SCRIPT, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/robots.txt", include_in_schema=False)
    def robots() -> PlainTextResponse:
        return PlainTextResponse(ROBOTS, headers={"Cache-Control": "public, max-age=86400"})


def _error_handlers(app: FastAPI, web: Web, *, https: bool) -> None:
    """HTML error pages for people, one line of text for feeds and probes."""

    def respond(request: Request, status: int, title: str, message: str) -> Response:
        if request.url.path.startswith(_PLAIN_PREFIXES):
            return PlainTextResponse(f"{title.lower()}\n", status_code=status)
        return web.error(request, status, title, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Page not found", 405: "Method not allowed", 413: "Request too large"}
        response = respond(request, exc.status_code, titles.get(exc.status_code, "Request failed"),
                           "Check the address, or start again from the home page.")
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return respond(request, 400, "Bad request", "Something in the request was not understood.")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, redact_path(request.url.path), exc_info=exc)
        response = respond(request, 500, "Something went wrong", "Please try again in a few minutes.")
        # This handler runs outside the middleware stack: add the headers it would have.
        for name, value in security_headers(https=https):
            response.headers[name.decode()] = value.decode()
        return response
