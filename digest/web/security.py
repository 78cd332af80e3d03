"""CSRF tokens, client identity, request body caps and the security headers on every response.

CSRF: a signed double-submit token. The browser holds a random value in an HttpOnly
cookie; each form carries that value signed with the site secret (itsdangerous, its own
salt, time-stamped). A POST is accepted only when the field's signature is good, it is
younger than CSRF_MAX_AGE and it signs exactly the cookie's value. Another site can
neither read the cookie nor sign a value of its own, so it cannot build a passing form.
One site can still plant the cookie: a sibling subdomain (cookie tossing), with a value it
fetched a token for. So a post a browser marks as sent by another site, sibling subdomains
included (Sec-Fetch-Site), is refused whatever its token (`Csrf.allows`).
The RFC 8058 one-click unsubscribe POST is deliberately outside this: mail clients send
it with no cookie, and the signed unsubscribe token in its URL is the authorisation.

Rate limits live in the database (`jobs.rate_limits`); `client_key` says who a request
counts against. Bodies are capped by `BodyLimit` before anything parses them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
import secrets
from typing import Mapping, Sequence

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 24 * 3600  # a form left open overnight still submits
# The largest request body accepted: a sign-up or manage form is under 2 KB, so 64 KB leaves
# room for any real form and stops a 200 MB one before it is read.
MAX_BODY_BYTES = 64 * 1024
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")
# A signed link as `digest.tokens` writes it: payload (a leading "." when compressed),
# timestamp and signature, each unpadded base64url.
_LINK_TOKEN = re.compile(r"\.?([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


class Csrf:
    """Issues and checks signed double-submit tokens (see the module docstring)."""

    def __init__(self, keys: str | Sequence[str], *, secure_cookie: bool):
        ordered = [keys] if isinstance(keys, str) else list(keys)
        # Signed with the current (first) key, accepted with any during a key rollover.
        self._serializer = URLSafeTimedSerializer(list(reversed(ordered)), salt="paper-digest/csrf")
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

    def allows(self, request: Request, form: Mapping[str, object]) -> bool:
        """True when a form post may act: sent by this site (`cross_site`) with a valid token."""
        return not cross_site(request) and self.valid(request, form)

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


def exact_token(token: str) -> bool:
    """True when `token` is spelled exactly as `digest.tokens` writes a link token.

    itsdangerous decodes base64 leniently: it accepts padding ("...="), the standard
    alphabet ("+" and "/" for "-" and "_") and any value of the unused low bits of each
    part's last character, so one link had dozens of working spellings. Every link is
    checked here first, so only the spelling that was sent works (one link, one string:
    what is logged, limited or revoked by its text is the link).
    """
    found = _LINK_TOKEN.fullmatch(token)
    return found is not None and all(_canonical_base64url(part) for part in found.groups())


def _canonical_base64url(part: str) -> bool:
    if len(part) % 4 == 1:
        return False
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == part


def cross_site(request: Request) -> bool:
    """True when the browser says another site sent this request (Fetch Metadata's
    Sec-Fetch-Site). Our forms post as "same-origin". "same-site" is refused too: a sibling
    subdomain can plant the CSRF cookie (cookie tossing) with a value it holds a token for,
    which the double-submit check alone would take. Clients that send no Sec-Fetch-Site
    (older browsers, scripts) are left to the token."""
    sent_by = request.headers.get("sec-fetch-site")
    return sent_by is not None and sent_by.strip().lower() not in ("same-origin", "none")


def client_key(host: str | None) -> str:
    """Who a request counts against: the client address; IPv6 by its /64 (one host's usual share).

    `host` is the socket's peer, or, when the peer is one of DIGEST_TRUSTED_PROXIES, the
    client that proxy names in X-Forwarded-For (uvicorn's ProxyHeadersMiddleware, set up in
    `web.app`); nothing else is ever believed.
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


def site_key(host: str | None) -> str | None:
    """The /48 an IPv6 client is in (None for IPv4 and anything else): one site's usual
    allocation, 65,536 of `client_key`'s /64s, so limits that matter also count it as one."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if not isinstance(address, ipaddress.IPv6Address) or address.ipv4_mapped is not None:
        return None
    return str(ipaddress.ip_network(f"{address}/48", strict=False))


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


class BodyLimit:
    """Pure ASGI middleware: request bodies over `max_bytes` get a 413 before they are parsed.

    A Content-Length over the cap is refused without reading a byte; a body sent without
    one (chunked) is counted as it streams and refused as soon as it passes the cap
    (the HTTPException reaches the app's error pages). Either way the work done is
    bounded by the cap, not by what the client sends.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not _within(declared, self.max_bytes):
            await Response("request body too large\n", status_code=413, media_type="text/plain",
                           headers={"Connection": "close"})(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, headers={"Connection": "close"})
            return message

        await self.app(scope, counted, send)


def _within(declared: bytes, limit: int) -> bool:
    digits = declared.strip()
    return digits.isdigit() and len(digits) <= 15 and int(digits) <= limit
