"""CSRF tokens, the subscribe rate limit and the security headers on every response.

CSRF: a signed double-submit token. The browser holds a random value in an HttpOnly
cookie; each form carries that value signed with the site secret (itsdangerous, its own
salt, time-stamped). A POST is accepted only when the field's signature is good, it is
younger than CSRF_MAX_AGE and it signs exactly the cookie's value. Another site can
neither read the cookie nor sign a value of its own, so it cannot build a passing form.
The RFC 8058 one-click unsubscribe POST is deliberately outside this: mail clients send
it with no cookie, and the signed unsubscribe token in its URL is the authorisation.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
import secrets
import threading
import time
from collections import deque
from typing import Callable, Mapping

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 24 * 3600  # a form left open overnight still submits
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class Csrf:
    """Issues and checks signed double-submit tokens (see the module docstring)."""

    def __init__(self, secret: str, *, secure_cookie: bool):
        self._serializer = URLSafeTimedSerializer(secret, salt="paper-digest/csrf")
        self._secure = secure_cookie

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """(form token, new cookie value or None when the browser's cookie is reused)."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = None
        if not _COOKIE_VALUE.fullmatch(cookie):
            cookie = fresh = secrets.token_urlsafe(32)
        return self._serializer.dumps(cookie), fresh

    def set_cookie(self, response: Response, value: str | None) -> None:
        """Store a newly issued cookie value (no-op for None). Session cookie, this site only."""
        if value is not None:
            response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="lax", secure=self._secure, path="/")

    def valid(self, request: Request, form: Mapping[str, object]) -> bool:
        """True when the form's token signs this browser's cookie and has not expired."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = form.get(CSRF_FIELD)
        if not cookie or not isinstance(token, str) or not token or len(token) > 512:
            return False
        try:
            signed = self._serializer.loads(token, max_age=CSRF_MAX_AGE)
        except BadData:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, cookie)


def client_key(host: str | None) -> str:
    """Who a request counts against: the client address; IPv6 by its /64 (one host's usual share).

    Behind a reverse proxy the client address is the proxy's unless uvicorn runs with
    `proxy_headers=True` and the proxy in `forwarded_allow_ips` (then it is the real client).
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    """At most `limit` accepted events per `window` seconds per key: an in-memory sliding log.

    Per process (several workers each allow `limit`). Memory stays bounded: keys idle for a
    whole window are dropped, and past `max_keys` the least recently added keys go first.
    Thread-safe.
    """

    def __init__(self, limit: int, window: float = 3600.0, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Record an event for `key`; None if allowed, else whole seconds until one is."""
        with self._lock:
            now = self._clock()
            log = self._hits.pop(key, None) or deque()
            while log and log[0] <= now - self.window:
                log.popleft()
            self._hits[key] = log  # re-inserted: dict order is least recently used first
            if len(log) >= self.limit:
                return max(1, math.ceil(log[0] + self.window - now))
            log.append(now)
            if len(self._hits) > self._max_keys:
                self._prune(now)
            return None

    def _prune(self, now: float) -> None:
        for key in [k for k, log in self._hits.items() if not log or log[-1] <= now - self.window]:
            del self._hits[key]
        while len(self._hits) > self._max_keys:
            del self._hits[next(iter(self._hits))]


def security_headers(*, https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response carries. Styles are inline in the layout ('unsafe-inline'
    for style only); the one script is a same-origin file; nothing may frame the pages."""
    csp = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        # Manage pages carry a token in their URL: never send it on to paper links.
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """Pure ASGI middleware adding `security_headers` to every HTTP response (cheap: no
    request/response objects, so cached feeds stay fast)."""

    def __init__(self, app: ASGIApp, *, https: bool):
        self.app = app
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, add_headers)
