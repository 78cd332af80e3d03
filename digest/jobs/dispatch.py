"""Dispatch: drain the outbox through a Sender and settle every row.

`Dispatcher.drain` claims rows under a lease, renders them (`jobs.rendering`), sends them
over a pooled sender, and settles each outcome in small group commits; a message is
never sent before its predecessor on the same slot is recorded, so a crash resends at
most `concurrency` messages. `write_dry_run` renders what planning would queue into
.eml files instead, writing nothing to the database.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Mapping, Union

from sqlalchemy import Engine

from digest.config import Settings
from digest.enums import DeliveryKind, DeliveryStatus, SubscriberStatus
from digest.errors import DigestError
from digest.jobs.common import utcnow
from digest.jobs.rendering import MailSetup, PlannedRow, Renderer, item_paper_ids
from digest.jobs.settling import Settler
from digest.mail.breaker import CircuitBreaker
from digest.mail.files import FileSender
from digest.mail.sender import Outgoing, Sender, SendResult
from digest.mail.smtp import SmtpConfig, SmtpSender
from digest.models import Paper, Subscriber
from digest.store import outbox
from digest.store import papers as paper_store
from digest.store import subscribers as subscriber_store
from digest.store.db import write_transaction
from digest.store.outbox import Claimed, Settlement

__all__ = ["Dispatcher", "DryRunReport", "SendReport", "dispatcher_for", "outcome_of", "retry_at", "write_dry_run"]

RETRY_BASE = timedelta(minutes=1)
# Papers read for one claimed batch are kept for the next ones (a day's digests share a
# few thousand papers); forgotten when the outbox runs dry or past this many.
PAPER_CACHE_MAX = 50_000
RETRY_CAP = timedelta(hours=6)

# A claimed row and what to do with it: send the message, or settle it as it is.
Prepared = tuple[Claimed, Union[Outgoing, Settlement]]


@dataclass(slots=True, kw_only=True)
class SendReport:
    """What one drain did; `errors` names each failed delivery."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    maybe_delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "cancelled": self.cancelled,
                "maybe_delivered": self.maybe_delivered}

    def count(self, settlement: Settlement) -> None:
        if settlement.maybe_delivered:
            self.maybe_delivered += 1
        if settlement.status == DeliveryStatus.SENT:
            self.sent += 1
        elif settlement.status == DeliveryStatus.QUEUED:
            self.retried += 1
        elif settlement.status == DeliveryStatus.SKIPPED:
            self.cancelled += 1
        else:
            self.failed += 1
            self.errors.append(f"delivery {settlement.delivery_id}: {settlement.error}")


def retry_at(attempts: int, now: datetime, *, rng: random.Random = random.Random()) -> datetime:
    """Exponential backoff with jitter: about 1, 2, 4 ... minutes, at most 6 hours apart."""
    delay = min(RETRY_CAP, RETRY_BASE * (2 ** min(attempts, 20)))
    return now + delay * rng.uniform(0.75, 1.25)


def outcome_of(row: Claimed, result: SendResult, *, now: datetime, max_age: timedelta) -> Settlement:
    """Classify one send: sent, queued again for a retry later, or failed for good."""
    base = dict(delivery_id=row.id, subscriber_id=row.subscriber_id, kind=row.kind, cursor_to=row.cursor_to,
                code=result.code, error=(result.reply or "")[:500] or None, maybe_delivered=result.maybe_delivered)
    if result.ok:
        return Settlement(status=DeliveryStatus.SENT, **base)
    if result.permanent:
        return Settlement(status=DeliveryStatus.FAILED, hard_bounce=result.code is not None and 500 <= result.code < 600, **base)
    if now - row.created_at > max_age:
        base["error"] = f"gave up after {row.attempts + 1} attempts: {base['error'] or 'no reply'}"
        return Settlement(status=DeliveryStatus.FAILED, **base)
    return Settlement(status=DeliveryStatus.QUEUED, next_attempt_at=retry_at(row.attempts, now), **base)


def _settle_unsent(row: Claimed, status: DeliveryStatus, error: str) -> Settlement:
    return Settlement(delivery_id=row.id, subscriber_id=row.subscriber_id, kind=row.kind, cursor_to=row.cursor_to,
                      status=status, error=error)


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
        self._papers: dict[int, Paper] = {}

    async def drain(self, *, only: str | None = None, stop: asyncio.Event | None = None,
                    idle_wait: float | None = None) -> SendReport:
        """Send everything due; with `idle_wait`, keep polling until `stop` is set.

        One producer claims and renders batches in a thread while `concurrency` consumers
        send, so rendering the next batch overlaps sending this one. On `stop`, messages
        already sending finish; claimed ones not yet started are handed back.
        """
        subscriber_id = self._subscriber_id(only) if only else None
        self._papers.clear()
        # `halt` follows the caller's `stop` and is also set when a consumer fails; the
        # caller's event is never set here (under `serve` it means "shut down").
        halt = asyncio.Event()
        follower = asyncio.create_task(_follow(stop, halt)) if stop is not None else None
        settler = Settler(self.engine, self.clock, size=self.concurrency)
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 16)
        consumers = [asyncio.create_task(self._consume(queue, settler, halt)) for _ in range(self.concurrency)]
        producer = asyncio.create_task(self._produce(queue, subscriber_id, halt, idle_wait))
        try:
            await asyncio.wait([producer, *consumers], return_when=asyncio.FIRST_COMPLETED)
            if not producer.done():  # a consumer failed: stop claiming; what is queued goes back
                halt.set()
                await _until_done(producer, queue)
        finally:
            producer.cancel()  # only still running when drain itself is cancelled
            if follower is not None:
                follower.cancel()
            await _end_consumers(queue, consumers)
            settler.close()
            await asyncio.to_thread(self._release)
        _raise_first_failure(producer, consumers)
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

    async def _consume(self, queue: asyncio.Queue, settler: Settler, stop: asyncio.Event) -> None:
        while (item := await queue.get()) is not None:
            if stop.is_set():
                continue  # claimed but not started: released with the rest when we stop
            await self._deliver(*item, settler)

    def _subscriber_id(self, email: str) -> int:
        with self.engine.connect() as conn:
            return subscriber_store.get(conn, email).id

    def _claim_and_render(self, subscriber_id: int | None) -> list[Prepared]:
        now = self.clock()
        with write_transaction(self.engine) as conn:
            rows = outbox.claim(conn, owner=self.owner, now=now, lease=self.lease, limit=self.concurrency * 8,
                                subscriber_id=subscriber_id)
        if not rows:
            self._papers.clear()  # idle: a later batch reads papers afresh
            return []
        papers = self._papers
        if len(papers) > PAPER_CACHE_MAX:
            papers.clear()
        with self.engine.connect() as conn:
            people = subscriber_store.by_ids(conn, (row.subscriber_id for row in rows))
            missing = {pid for pid in item_paper_ids(row.items for row in rows) if pid not in papers}
            if missing:
                papers.update(paper_store.papers_by_id(conn, missing))
        return [(row, self._prepare(row, people.get(row.subscriber_id), papers, now)) for row in rows]

    def _prepare(self, row: Claimed, subscriber: Subscriber | None, papers: Mapping[int, Paper],
                 now: datetime) -> Outgoing | Settlement:
        wanted = SubscriberStatus.PENDING if row.kind == DeliveryKind.CONFIRM else SubscriberStatus.ACTIVE
        if subscriber is None or subscriber.status != wanted:
            state = subscriber.status if subscriber else "removed"
            return _settle_unsent(row, DeliveryStatus.SKIPPED, f"not sent: subscriber is {state}")
        try:
            return self.renderer.message(row, subscriber, papers, now)
        except DigestError as err:  # e.g. an address the relay could never accept
            return _settle_unsent(row, DeliveryStatus.FAILED, str(err))

    async def _deliver(self, row: Claimed, message: Outgoing | Settlement, settler: Settler) -> None:
        if isinstance(message, Settlement):
            settlement = message
        else:
            result = await self.sender.send(message)
            self.breaker.record_result(result)
            settlement = outcome_of(row, result, now=self.clock(), max_age=self.max_age)
        await settler.record(settlement)
        self.report.count(settlement)

    def _release(self) -> None:
        with write_transaction(self.engine) as conn:
            outbox.release(conn, self.owner)


async def _follow(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()


async def _until_done(producer: asyncio.Task, queue: asyncio.Queue) -> None:
    """Let a stopped producer finish, emptying the queue it may be blocked on."""
    while not producer.done():
        _discard(queue)
        await asyncio.wait([producer], timeout=0.05)


def _discard(queue: asyncio.Queue) -> None:
    """Drop queued messages: they were claimed and not started, so the release hands them back."""
    while not queue.empty():
        queue.get_nowait()


async def _end_consumers(queue: asyncio.Queue, consumers: list[asyncio.Task]) -> None:
    """One end marker per consumer, after the messages already queued. A consumer that died
    (its sender or the database raised) takes nothing, so when none is left to empty a full
    queue, what is in it is dropped (and handed back by the release) rather than waited on."""
    for _ in consumers:
        while True:
            try:
                queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                alive = [task for task in consumers if not task.done()]
                if not alive:
                    _discard(queue)
                else:
                    await asyncio.wait(alive, timeout=0.05)
    await asyncio.gather(*consumers, return_exceptions=True)


def _raise_first_failure(producer: asyncio.Task, consumers: list[asyncio.Task]) -> None:
    """Re-raise what broke the run (claiming, sending or settling), after the clean-up."""
    for task in (producer, *consumers):
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return  # the wait is over and nobody asked us to stop


def dispatcher_for(engine: Engine, settings: Settings, sender: Sender | None = None, *,
                   allow_demo_secret: bool = False) -> Dispatcher:
    """A Dispatcher over the configured relay (or `sender`), sized to the connection pool."""
    setup = MailSetup.from_settings(settings, allow_demo_secret=allow_demo_secret)
    sender = sender or SmtpSender(SmtpConfig.from_settings(settings))
    return Dispatcher(engine, sender, setup, concurrency=settings.smtp_pool_size,
                      lease=timedelta(seconds=settings.lease_seconds),
                      max_age=timedelta(hours=settings.retry_max_age_hours))


@dataclass(frozen=True, slots=True, kw_only=True)
class DryRunReport:
    planned: int
    skipped_empty: int
    written: int

    def as_dict(self) -> dict:
        return {"planned": self.planned, "skipped_empty": self.skipped_empty, "written": self.written}


def write_dry_run(engine: Engine, settings: Settings, out: Path, *, force: bool = False,
                  only: str | None = None) -> DryRunReport:
    """Plan without writing and render each message that would be queued into `out`/N.eml."""
    # Imported here: sender processes never plan, and planning's imports (ranking) cost ~0.4 s.
    from digest.jobs.planning import plan_digests

    plan = plan_digests(engine, force=force, only=only, write=False)
    renderer = Renderer(MailSetup.from_settings(settings, allow_demo_secret=True))
    now = utcnow()
    with engine.connect() as conn:
        people = subscriber_store.by_ids(conn, (row["subscriber_id"] for row in plan.rows))
        papers = paper_store.papers_by_id(conn, item_paper_ids(row["items"] for row in plan.rows))
    messages = [renderer.message(PlannedRow.numbered(number, row), people[row["subscriber_id"]], papers, now)
                for number, row in enumerate(plan.rows, start=1) if row["status"] == DeliveryStatus.QUEUED]
    asyncio.run(_send_all(FileSender(out), messages))
    return DryRunReport(planned=plan.planned, skipped_empty=plan.skipped_empty, written=len(messages))


async def _send_all(sender: Sender, messages: list[Outgoing]) -> None:
    async with sender:
        for message in messages:
            await sender.send(message)
