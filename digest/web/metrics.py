"""`GET /healthz` and `GET /metrics` (Prometheus text format 0.0.4).

`/healthz` is 200 only while the database answers and no background part of the process
(sender, scheduler jobs, sign-up task: see `digest.health`) is failing; else 503 naming
the failing parts. `/metrics` is not public: it needs `Authorization: Bearer
<DIGEST_METRICS_TOKEN>` (compared in constant time) and is a 404 when no token is set.

Every figure is read from the database at scrape time, so all workers and the sender
processes report the same numbers and nothing is lost on restart. Metrics:

* digest_papers_total (counter): papers stored.
* digest_subscribers{status} (gauge): subscribers by status, every status listed.
* digest_deliveries{status} (gauge): outbox rows (digests and confirmations) by status.
* digest_digests_sent_total / digest_digests_failed_total (counters): digest rows sent /
  failed for good. Rows go away when a subscriber is deleted; a scrape then sees a
  smaller value, which Prometheus treats as a counter reset.
* digest_mail_events_total{kind} (counter): what the mailbox job read, by kind: hard_bounce,
  soft_bounce (DSNs), complaint (ARF reports) and unsubscribe (mailto requests).
* digest_send_latency_seconds (summary): seconds from a delivery row being queued to it
  being sent (retries included), over the newest LATENCY_WINDOW sent rows; quantiles
  0.5/0.9/0.99 plus _sum and _count of that window (not of all time).
"""

from __future__ import annotations

import hmac
import logging
import math

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.requests import Request
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from digest.enums import DeliveryStatus, SubscriberStatus
from digest.health import Health
from digest.jobs.stats import gather_metrics

log = logging.getLogger("digest.web")

LATENCY_WINDOW = 1000
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def router(engine: Engine, *, token: str | None = None, health: Health | None = None) -> APIRouter:
    routes = APIRouter()
    health = health or Health()
    no_store = {"Cache-Control": "no-store"}

    @routes.get("/healthz")
    def healthz() -> JSONResponse:
        """200 {"status": "ok"} when the database answers `SELECT 1` and nothing in the
        process is failing, else 503 {"status": "unavailable", "failing": [parts]}."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as err:
            log.warning("health check failed: %s", str(err).splitlines()[0] if str(err) else type(err).__name__)
            return JSONResponse({"status": "unavailable", "failing": ["database"]}, status_code=503, headers=no_store)
        failing = sorted(health.failing())
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503, headers=no_store)
        return JSONResponse({"status": "ok"}, headers=no_store)

    @routes.get("/metrics")
    def metrics(request: Request) -> PlainTextResponse:
        if not token:
            return PlainTextResponse("not found\n", status_code=404)
        if not authorized(request.headers.get("authorization", ""), token):
            return PlainTextResponse("unauthorized\n", status_code=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="metrics"', **no_store})
        try:
            body = render_metrics(engine)
        except SQLAlchemyError:
            return PlainTextResponse("database unavailable\n", status_code=503)
        return PlainTextResponse(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    return routes


def authorized(header: str, token: str) -> bool:
    """True when `header` is "Bearer <token>" (scheme case-insensitive, constant-time compare)."""
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def render_metrics(engine: Engine) -> str:
    """The exposition text, read in one connection."""
    counts = gather_metrics(engine, latency_window=LATENCY_WINDOW)
    papers, people, rows, digests = counts.papers, counts.subscribers, counts.deliveries, counts.digests
    mailbox, latencies = counts.mailbox, counts.latencies
    lines: list[str] = []
    _metric(lines, "digest_papers_total", "counter", "Papers stored.", [("", papers)])
    _metric(lines, "digest_subscribers", "gauge", "Subscribers by status.",
            [(f'status="{s}"', people.get(s, 0)) for s in SubscriberStatus])
    _metric(lines, "digest_deliveries", "gauge", "Outbox rows (digests and confirmations) by status.",
            [(f'status="{s}"', rows.get(s, 0)) for s in DeliveryStatus])
    _metric(lines, "digest_digests_sent_total", "counter", "Digest emails sent.", [("", digests.get(DeliveryStatus.SENT, 0))])
    _metric(lines, "digest_digests_failed_total", "counter", "Digest emails that failed for good.",
            [("", digests.get(DeliveryStatus.FAILED, 0))])
    _metric(lines, "digest_mail_events_total", "counter", "Bounces, complaints and unsubscribes read from the mailbox.",
            [(f'kind="{kind}"', count) for kind, count in mailbox.items()])
    samples = [(f'quantile="{q}"', _quantile(latencies, q)) for q in (0.5, 0.9, 0.99)]
    _metric(lines, "digest_send_latency_seconds", "summary",
            f"Seconds from queued to sent, newest {LATENCY_WINDOW} sent deliveries.", samples)
    lines.append(f"digest_send_latency_seconds_sum {_number(sum(latencies))}")
    lines.append(f"digest_send_latency_seconds_count {len(latencies)}")
    return "\n".join(lines) + "\n"


def _metric(lines: list[str], name: str, kind: str, help: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{{{labels}}} {_number(value)}" if labels else f"{name} {_number(value)}")


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values; NaN when there are none (Prometheus' convention)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value))
