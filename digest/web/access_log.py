"""One structured log line per request, with the secrets in paths redacted.

Confirm, manage, unsubscribe and feedback URLs carry signed tokens and personal feed URLs carry the
feed token: anyone reading the logs could use them, so they are replaced by `<token>`.
Query strings are never logged (a search may be personal). Uvicorn's own access log
prints raw paths: run uvicorn with `access_log=False` and rely on this one.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("digest.web")

_SECRET_PATH = re.compile(r"^/(confirm|manage|unsubscribe|feedback)/[^/]+|^/feeds/s/[^/]+?(?=\.(?:rss|atom)$|$)")


# Line breaks and other controls a decoded path may hold ("%0a", "%e2%80%a8", "%1b"): written
# as escapes, or `GET /x%0a<a made-up log line>` would add lines of its own to a text log.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact_path(path: str) -> str:
    """`path` with any link token replaced by `<token>` and control characters escaped
    (`\\x0a`, `\\u2028`); other paths unchanged."""
    def replace(match: re.Match[str]) -> str:
        return f"/{match.group(1)}/<token>" if match.group(1) else "/feeds/s/<token>"

    return _CONTROL.sub(_escaped, _SECRET_PATH.sub(replace, path, count=1))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class AccessLog:
    """Pure ASGI middleware: logs method, redacted path, status and duration at INFO.

    The message reads `GET /feeds/papers.atom 200 1.4ms`; the same values are attached as
    `extra` fields (http_method, http_path, http_status, duration_ms) for JSON formatters.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            took = (time.perf_counter() - started) * 1000
            path = redact_path(scope.get("path", ""))
            log.info("%s %s %d %.1fms", scope.get("method", "-"), path, status, took,
                     extra={"http_method": scope.get("method"), "http_path": path, "http_status": status,
                            "duration_ms": round(took, 2)})
