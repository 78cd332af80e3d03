"""Delivery use cases: plan the digests that are due, then send the outbox.

`plan_digests` ranks every due subscriber against one index of the candidate papers and
writes one outbox row per (subscriber, period). `Dispatcher.drain` claims rows under a
lease, renders and sends them over a pooled sender, and settles each outcome in small
group commits; a message is never sent before its predecessor on the same slot is
recorded, so a crash resends at most `concurrency` messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Callable

from sqlalchemy import Engine, Row

from digest.compose import Composer
from digest.config import Settings
from digest.errors import DigestError
from digest.jobs.common import gc_paused, utcnow
from digest.links import links_for
from digest.mail.breaker import CircuitBreaker
from digest.mail.message import build_message, make_message_id, sign_dkim
from digest.mail.sender import Outgoing, Sender, SendResult
from digest.models import Digest, Paper, RankedPaper, Subscriber
from digest.ranking import Highlighter, build_index, rank_subscribers
from digest.schedule import current_period, due_period
from digest.store import outbox
from digest.store import papers as paper_store
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction

log = logging.getLogger("digest.delivery")

# A digest never reaches further back than this, however stale a cursor is.
MAX_LOOKBACK = timedelta(days=30)
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)


@dataclass(slots=True)
class PlanReport:
    due: int = 0
    planned: int = 0
    skipped_empty: int = 0
    already_planned: int = 0
    candidates: int = 0
    rows: list[dict] = field(default_factory=list)  # filled instead of written when write=False


# ---- planning -----------------------------------------------------------------------------


def plan_digests(
    engine: Engine,
    now: datetime | None = None,
    *,
    force: bool = False,
    only: str | None = None,
    batch_size: int = 5000,
    write: bool = True,
) -> PlanReport:
    """Insert one outbox row per due (subscriber, period); safe to run any number of times.

    `force` treats every active subscriber as due for their current period (`run --now`).
    A digest with no papers is recorded as skipped (and the cursor moves on) unless the
    subscriber asked for empty digests. With `write=False` nothing is written and the rows
    that would be are returned in `report.rows` (a dry run).
    """
    now = now or utcnow()
    report = PlanReport()
    index = None  # built on the first due batch: most minutes nobody is due
    with gc_paused():
        for batch in _batches_of_due(engine, now, force=force, only=only, size=batch_size, report=report):
            if index is None:
                index, newest = _candidate_index(engine, now)
                report.candidates = len(index)
            _plan_batch(engine, index, batch, newest=newest, now=now, report=report, write=write)
    return report


def _candidate_index(engine: Engine, now: datetime):
    """One index over every paper some active subscriber has not had yet (30 days at most)."""
    with engine.connect() as conn:
        floor = max(subscriber_store.min_active_cursor(conn), paper_store.first_id_since(conn, now - MAX_LOOKBACK))
        candidates = paper_store.papers_after(conn, floor)
        newest = paper_store.max_paper_id(conn)
    return build_index(candidates), newest


def _batches_of_due(engine: Engine, now: datetime, *, force: bool, only: str | None, size: int, report: PlanReport):
    with engine.connect() as conn:
        for batch in subscriber_store.active_batches(conn, only=only, size=size):
            due = [(s, current_period(s, now) if force else due_period(s, now)) for s in batch]
            due = [(s, period) for s, period in due if period is not None]
            report.due += len(due)
            if not due:
                continue
            taken = outbox.planned(conn, ((s.id, period) for s, period in due))
            report.already_planned += len(taken)
            due = [(s, period) for s, period in due if (s.id, period) not in taken]
            if not due:
                continue
            promised = outbox.pending_cursors(conn, [s.id for s, _ in due])
            yield [(replace(s, cursor=max(s.cursor, promised.get(s.id, 0))), period) for s, period in due]


def _plan_batch(engine: Engine, index, batch: list[tuple[Subscriber, str]], *, newest: int, now: datetime,
                report: PlanReport, write: bool) -> None:
    periods = {s.id: period for s, period in batch}
    rows, skipped = [], {}
    for subscriber, ranked in rank_subscribers(index, [s for s, _ in batch], snippets=False):
        items = [[r.paper.id, r.score, list(r.matched)] for r in ranked]
        cursor_to = max(newest, subscriber.cursor)
        if items or subscriber.send_empty:
            rows.append(outbox.new_row(subscriber.id, "digest", periods[subscriber.id], items=items, cursor_to=cursor_to, now=now))
        else:
            rows.append(outbox.new_row(subscriber.id, "digest", periods[subscriber.id], items=[], cursor_to=cursor_to,
                                       now=now, status="skipped"))
            skipped[subscriber.id] = cursor_to
    if write:
        with write_transaction(engine) as conn:
            outbox.insert_planned(conn, rows)
            outbox.advance_cursors(conn, skipped)
    else:
        report.rows.extend(rows)
    report.planned += len(rows) - len(skipped)
    report.skipped_empty += len(skipped)


def preview_digest(engine: Engine, email: str) -> tuple[Subscriber, list[RankedPaper]]:
    """What `email`'s next digest would hold if it were planned now (writes nothing)."""
    now = utcnow()
    with engine.connect() as conn:
        subscriber = subscriber_store.to_subscriber(subscriber_store.get(conn, email))
        cursor = max(subscriber.cursor, outbox.pending_cursors(conn, [subscriber.id]).get(subscriber.id, 0))
        floor = max(cursor, paper_store.first_id_since(conn, now - MAX_LOOKBACK))
        candidates = paper_store.papers_after(conn, floor)
    subscriber = replace(subscriber, cursor=cursor)
    _, ranked = next(rank_subscribers(build_index(candidates), [subscriber]))
    return subscriber, ranked


# ---- rendering ----------------------------------------------------------------------------


@dataclass
class MailSetup:
    """Everything a message needs from the settings, resolved once per run."""

    base_url: str
    secret: str
    from_addr: str
    from_name: str | None
    domain: str
    list_id: str
    id_salt: str
    dkim: tuple[str, str, bytes] | None = None  # selector, domain, private key

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_demo_secret: bool = False) -> "MailSetup":
        name, address = parseaddr(settings.from_)
        if "@" not in address:
            raise DigestError(f"DIGEST_FROM must contain an address, got {settings.from_!r}")
        domain = address.rsplit("@", 1)[1]
        secret = settings.secret(allow_demo=allow_demo_secret)
        dkim = None
        if settings.dkim_private_key_file and settings.dkim_selector:
            dkim = (settings.dkim_selector, settings.dkim_domain or domain, settings.dkim_private_key_file.read_bytes())
        return cls(
            base_url=settings.base_url,
            secret=secret,
            from_addr=address,
            from_name=name or None,
            domain=domain,
            list_id=f"digest.{domain}",
            # Message-IDs differ between installations sharing a domain, stable per row.
            id_salt=hashlib.sha256(secret.encode()).hexdigest()[:12],
            dkim=dkim,
        )


class Renderer:
    """Turns claimed outbox rows into message bytes; one per run (it caches fragments)."""

    def __init__(self, setup: MailSetup, composer: Composer | None = None):
        self.setup = setup
        self.composer = composer or Composer(base_url=setup.base_url + "/")
        self.highlighter = Highlighter()

    def digest_of(self, row: Row, subscriber: Subscriber, papers: dict[int, Paper]) -> Digest:
        ranked = []
        for paper_id, score, matched in row.items:
            paper = papers.get(paper_id)
            if paper is not None:  # a paper deleted since planning is simply left out
                ranked.append(RankedPaper(paper, score, tuple(matched), self.highlighter.snippet(paper, matched)))
        return Digest(subscriber=subscriber, period=row.period, papers=ranked, delivery_id=row.id)

    def message(self, row: Row, subscriber: Subscriber, papers: dict[int, Paper], now: datetime) -> Outgoing:
        setup = self.setup
        if row.kind == "confirm":
            links = links_for(setup.base_url, setup.secret, subscriber, confirm=True)
            rendered = self.composer.render_confirmation(subscriber, links, requested_at=row.created_at)
            list_headers = {}
        else:
            links = links_for(setup.base_url, setup.secret, subscriber)
            rendered = self.composer.render_digest(self.digest_of(row, subscriber, papers), links)
            list_headers = {
                "list_id": setup.list_id,
                "list_unsubscribe_url": links.unsubscribe_url,
                "list_unsubscribe_mailto": f"mailto:{setup.from_addr}?subject=unsubscribe",
            }
        data = build_message(
            from_addr=setup.from_addr, from_name=setup.from_name, to_addr=subscriber.email, to_name=subscriber.name,
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=make_message_id(row.id, setup.domain, salt=setup.id_salt), date=now, **list_headers,
        )
        if setup.dkim:
            selector, domain, key = setup.dkim
            data = sign_dkim(data, selector=selector, domain=domain, private_key_pem=key)
        return Outgoing(row.id, setup.from_addr, (subscriber.email,), data)


# ---- sending ------------------------------------------------------------------------------


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    maybe_delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "cancelled": self.cancelled,
                "maybe_delivered": self.maybe_delivered}


def retry_at(attempts: int, now: datetime, *, rng: random.Random = random.Random()) -> datetime:
    """Exponential backoff with jitter: about 1, 2, 4 ... minutes, at most 6 hours apart."""
    delay = min(RETRY_CAP, RETRY_BASE * (2 ** min(attempts, 20)))
    return now + delay * rng.uniform(0.75, 1.25)


def outcome_of(row: Row, result: SendResult, *, now: datetime, max_age: timedelta) -> outbox.Outcome:
    """Classify one send: sent, retry later, or failed for good."""
    base = dict(delivery_id=row.id, subscriber_id=row.subscriber_id, kind=row.kind, cursor_to=row.cursor_to,
                code=result.code, error=(result.reply or "")[:500] or None, maybe_delivered=result.maybe_delivered)
    if result.ok:
        return outbox.Outcome(status="sent", **base)
    if result.permanent:
        return outbox.Outcome(status="failed", hard_bounce=result.code is not None and 500 <= result.code < 600, **base)
    if now - row.created_at > max_age:
        base["error"] = f"gave up after {row.attempts + 1} attempts: {base['error'] or 'no reply'}"
        return outbox.Outcome(status="failed", **base)
    return outbox.Outcome(status="retry", next_attempt_at=retry_at(row.attempts, now), **base)


class _Settler:
    """Group commit of outcomes: callers await their own outcome being durable."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]):
        self.engine = engine
        self.clock = clock
        self.pending: list[tuple[outbox.Outcome, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def record(self, outcome: outbox.Outcome) -> None:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((outcome, future))
        self.wake.set()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            self.wake.clear()
            try:
                await asyncio.to_thread(self._write, [o for o, _ in batch])
            except Exception as err:  # the futures carry it to each waiting sender
                for _, future in batch:
                    future.set_exception(err)
                continue
            for _, future in batch:
                future.set_result(None)

    def _write(self, outcomes: list[outbox.Outcome]) -> None:
        with write_transaction(self.engine) as conn:
            outbox.settle(conn, outcomes, now=self.clock())


class Dispatcher:
    """Drains the outbox through a Sender, `concurrency` messages in flight at most."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        setup: MailSetup,
        *,
        concurrency: int = 4,
        lease: timedelta = timedelta(minutes=5),
        max_age: timedelta = timedelta(hours=48),
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        breaker: CircuitBreaker | None = None,
        renderer: Renderer | None = None,
    ):
        self.engine = engine
        self.sender = sender
        self.renderer = renderer or Renderer(setup)
        self.concurrency = concurrency
        self.lease = lease
        self.max_age = max_age
        self.owner = owner or f"{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.breaker = breaker or CircuitBreaker()
        self.report = SendReport()

    async def drain(self, *, only: str | None = None, stop: asyncio.Event | None = None, idle_wait: float | None = None) -> SendReport:
        """Send everything due; with `idle_wait`, keep polling until `stop` is set.

        One producer claims and renders batches in a thread while `concurrency` consumers
        send, so rendering the next batch overlaps sending this one. On `stop`, messages
        already sending finish; claimed ones not yet started are handed back.
        """
        subscriber_id = self._subscriber_id(only) if only else None
        stop = stop or asyncio.Event()
        settler = _Settler(self.engine, self.clock)
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 16)
        consumers = [asyncio.create_task(self._consume(queue, settler, stop)) for _ in range(self.concurrency)]
        try:
            await self._produce(queue, subscriber_id, stop, idle_wait)
        finally:
            for _ in consumers:
                await queue.put(None)
            await asyncio.gather(*consumers, return_exceptions=True)
            await asyncio.to_thread(self._release)
        return self.report

    async def _produce(self, queue: asyncio.Queue, subscriber_id: int | None, stop: asyncio.Event,
                       idle_wait: float | None) -> None:
        while not stop.is_set():
            if not self.breaker.allow():
                if idle_wait is None:
                    return  # a one-shot run stops; what is left is sent by the next run
                await _sleep_or_stop(min(self.breaker.retry_in, 5.0), stop)
                continue
            prepared = await asyncio.to_thread(self._claim_and_render, subscriber_id)
            if not prepared:
                if idle_wait is None and queue.empty():
                    return
                await _sleep_or_stop(idle_wait if idle_wait is not None else 0.05, stop)
                continue
            for item in prepared:
                await queue.put(item)

    async def _consume(self, queue: asyncio.Queue, settler: "_Settler", stop: asyncio.Event) -> None:
        while (item := await queue.get()) is not None:
            if stop.is_set():
                continue  # claimed but not started: released with the rest when we stop
            await self._deliver(*item, settler)

    def _subscriber_id(self, email: str) -> int:
        with self.engine.connect() as conn:
            return subscriber_store.get(conn, email).id

    def _claim_and_render(self, subscriber_id: int | None) -> list[tuple[Row, Outgoing | outbox.Outcome]]:
        now = self.clock()
        with write_transaction(self.engine) as conn:
            rows = outbox.claim(conn, owner=self.owner, now=now, lease=self.lease, limit=self.concurrency * 8,
                                subscriber_id=subscriber_id)
        if not rows:
            return []
        with self.engine.connect() as conn:
            people = subscriber_store.by_ids(conn, (row.subscriber_id for row in rows))
            papers = paper_store.papers_by_id(conn, (item[0] for row in rows for item in row.items))
        return [(row, self._prepare(row, people.get(row.subscriber_id), papers, now)) for row in rows]

    def _prepare(self, row: Row, subscriber: Subscriber | None, papers: dict[int, Paper], now: datetime):
        wanted = ("pending",) if row.kind == "confirm" else ("active",)
        if subscriber is None or subscriber.status not in wanted:
            state = subscriber.status if subscriber else "removed"
            return outbox.Outcome(row.id, row.subscriber_id, row.kind, row.cursor_to, "skipped",
                                  error=f"not sent: subscriber is {state}")
        try:
            return self.renderer.message(row, subscriber, papers, now)
        except DigestError as err:  # e.g. an address the relay could never accept
            return outbox.Outcome(row.id, row.subscriber_id, row.kind, row.cursor_to, "failed", error=str(err))

    async def _deliver(self, row: Row, message: Outgoing | outbox.Outcome, settler: _Settler) -> None:
        if isinstance(message, outbox.Outcome):
            outcome = message
        else:
            result = await self.sender.send(message)
            self.breaker.record_result(result)
            outcome = outcome_of(row, result, now=self.clock(), max_age=self.max_age)
        await settler.record(outcome)
        self._count(outcome)

    def _count(self, outcome: outbox.Outcome) -> None:
        report = self.report
        if outcome.maybe_delivered:
            report.maybe_delivered += 1
        if outcome.status == "sent":
            report.sent += 1
        elif outcome.status == "retry":
            report.retried += 1
        elif outcome.status == "skipped":
            report.cancelled += 1
        else:
            report.failed += 1
            report.errors.append(f"delivery {outcome.delivery_id}: {outcome.error}")

    def _release(self) -> None:
        with write_transaction(self.engine) as conn:
            outbox.release(conn, self.owner)


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return  # the wait is over and nobody asked us to stop


def queue_test_digest(engine: Engine, email: str, *, now: datetime | None = None) -> int:
    """Plan a one-off digest for `email` now (period "test-<time>"), whatever their schedule."""
    now = now or utcnow()
    subscriber, ranked = preview_digest(engine, email)
    with engine.connect() as conn:
        newest = paper_store.max_paper_id(conn)
    row = outbox.new_row(subscriber.id, "digest", f"test-{now.isoformat(timespec='seconds')}",
                         items=[[r.paper.id, r.score, list(r.matched)] for r in ranked],
                         cursor_to=subscriber.cursor, now=now)
    with write_transaction(engine) as conn:
        outbox.insert_planned(conn, [row])
    return len(ranked)


__all__ = ["Dispatcher", "MailSetup", "PlanReport", "Renderer", "SendReport", "outcome_of", "plan_digests",
           "preview_digest", "queue_test_digest", "retry_at"]



def render_preview_html(settings: Settings, subscriber: Subscriber, ranked: list[RankedPaper]) -> str:
    """The HTML body `subscriber`'s next digest would have (links signed as in a real send)."""
    setup = MailSetup.from_settings(settings, allow_demo_secret=True)
    renderer = Renderer(setup)
    digest = Digest(subscriber=subscriber, period="preview", papers=ranked)
    return renderer.composer.render_digest(digest, links_for(setup.base_url, setup.secret, subscriber)).html
