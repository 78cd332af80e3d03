"""The daily run on every core: plan once, send from N processes claiming from the outbox.

Planning runs while this process sends what is planned (`plan_and_send_here`): in a thread,
or from PLAN_APART_FROM active subscribers in a process of its own (`jobs.planner_process`:
ranking would otherwise share this process's interpreter lock with sending).
`plan_and_send` also starts N - 1 sender processes first (their start-up overlaps
planning). Each child opens its own engine and SMTP sender and runs the ordinary
`Dispatcher`: while planning still writes rows it polls for them; once planning is done,
one ordinary drain until nothing is claimable. Claims are exclusive (`FOR UPDATE SKIP
LOCKED` on PostgreSQL; on SQLite one writer at a time, WAL and a 30 s busy timeout, see
`store.db`), so each message is sent once whatever the number of processes. Memory stays
flat: each sender holds one claimed batch at a time.

Why this process sends too, rather than planning while N children send: a child costs its
start-up (imports, ~0.6 s of CPU) and renders again the papers another process already
rendered (the renderer's per-paper caches are per process). At 5,000 subscribers x 5,000
papers, two children cost ~3 s more CPU than this process sending alone; this process and
one child cost half that.

Sender children are started with "spawn", not "fork": a forked child would inherit open
SQLite connections and threads, which SQLite and asyncio do not survive. (The planner is
forked before any of those exist; see `jobs.planner_process`.)
"""

from __future__ import annotations

import asyncio
import functools
import gc
import multiprocessing
import os
import queue as queue_module
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from digest.config import Settings
from digest.errors import DigestError
from digest.jobs.common import utcnow
from digest.jobs.plan_report import PlanReport
from digest.jobs.planner_process import plan_apart, start_planner
from digest.store import subscribers as subscriber_store

if TYPE_CHECKING:
    from digest.jobs.dispatch import Dispatcher, SendReport

__all__ = ["MAX_PROCESSES", "PARALLEL_FROM", "ParallelRun", "SenderFailed", "SenderResult", "default_processes",
           "plan_and_send", "plan_and_send_here", "processes_for", "quiet_collector", "send_here"]

MAX_PROCESSES = 8
# Below this many active subscribers one process sends as fast as several, for less CPU: each
# other process pays its start-up and renders again papers this one rendered. Measured on 2
# CPUs beside the SMTP sink: 5,000 subscribers x 5,000 papers, a second process cost ~30% more
# CPU and was not faster (75% vs 88% of an ideal client's rate); 10,000 x 2,000, the same CPU
# and 20-25% less wall time (20.5-22.1 s vs 25.9-28.8 s at load 4-7).
PARALLEL_FROM = 10_000
POLL_SECONDS = 0.05  # how often a child looks for rows while planning still writes them
# Subscribers planned per batch while senders wait for rows: small enough that sending starts
# early (ranking 5,000 subscribers with profiles takes ~15 s of CPU), large enough that the
# per-batch queries cost nothing.
PLAN_BATCH = 1000
# The first batch is smaller (then 400, 1000...): the senders wait for it. At 5,000
# subscribers x 5,000 papers the first email left 1.8 s after start with a first batch of 1,000.
FIRST_PLAN_BATCH = 100
# The collector's first generation is examined after this many new container objects, not 700.
YOUNG_COLLECTION_EVERY = 10_000


class SenderFailed(DigestError):
    """A sender process died; what it had not sent is sent by the next run."""

    exit_code = 2


@dataclass(slots=True, kw_only=True)
class SenderResult:
    """What one sender process did: its counts, first errors and peak memory."""

    pid: int
    report: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, **self.report, "peak_rss_mb": self.peak_rss_mb, "failure": self.failure}


@dataclass(slots=True, kw_only=True)
class ParallelRun:
    """A planned and sent run: the plan, the sends of every process added up, and each process."""

    plan: PlanReport
    sent: SendReport
    senders: list[SenderResult]  # this process first
    plan_seconds: float = 0.0  # wall time of planning (sending ran meanwhile)


@contextmanager
def quiet_collector() -> Iterator[None]:
    """While the block runs, keep the cyclic garbage collector off what existed before it
    and run it less often; afterwards as it was (for long-lived callers: tests, `serve`).

    Everything allocated so far (modules, SQLAlchemy's tables and compiled statements,
    templates) is moved to the permanent generation (gc.freeze), so full collections no
    longer walk it; the young generation is collected every YOUNG_COLLECTION_EVERY new
    objects. Reference counting still frees everything acyclic at once; cycles are still
    collected. Measured on `run --now`, 5,000 subscribers x 5,000 papers: the collector
    took 0.59-0.60 s of the run's ~8 s CPU (4 full collections of ~76 ms); frozen 0.37 s,
    with the larger young generation 0.28 s; peak RSS unchanged (278-280 MB).
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def default_processes() -> int:
    """One sender per CPU, at most MAX_PROCESSES."""
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES))


def processes_for(engine: Engine, wanted: int | None) -> int:
    """`wanted` when given; else one per CPU when there are PARALLEL_FROM active subscribers or more, else 1."""
    if wanted is not None:
        return max(1, wanted)
    with engine.connect() as conn:
        active = subscriber_store.count_active(conn)
    return default_processes() if active >= PARALLEL_FROM else 1


def _dispatcher_for(engine: Engine, settings: Settings) -> Dispatcher:
    # Imported when needed: the sending code (~0.12 s of imports) loads after the planner
    # process is forked, while it builds its index, not before.
    from digest.jobs.dispatch import dispatcher_for

    return dispatcher_for(engine, settings)


def send_here(engine: Engine, settings: Settings, *, only: str | None = None) -> SendReport:
    """Drain the outbox in this process (one core): `send-test`."""
    return asyncio.run(_drain_once(_dispatcher_for(engine, settings), only))


async def _drain_once(dispatcher: Dispatcher, only: str | None) -> SendReport:
    async with dispatcher.sender:
        return await dispatcher.drain(only=only)


def plan_and_send_here(engine: Engine, settings: Settings, *, force: bool = False, only: str | None = None,
                       now: datetime | None = None, dispatcher: Dispatcher | None = None,
                       plan_batch: int = PLAN_BATCH) -> ParallelRun:
    """`digest run --processes 1`: plan (in a thread, or a planner process) while this process
    sends what is planned.

    Sending starts once the first PLAN_BATCH subscribers are planned instead of after all of
    them, so the relay works while the rest are ranked: at 5,000 subscribers planning first
    left the relay idle for the planner's ~1.5 s, then sent for ~15 s. `dispatcher` (default:
    the configured relay) lets a benchmark time its renderer.
    """
    planner = _planner(engine, force=force, only=only, now=now, batch=plan_batch)  # first: it may fork
    dispatcher = dispatcher or _dispatcher_for(engine, settings)
    with quiet_collector():
        return asyncio.run(_plan_while_sending(dispatcher, planner, only=only))


async def _plan_while_sending(dispatcher: Dispatcher, planner: Callable[[], PlanReport], *, only: str | None,
                              announce: Callable[[], Any] | None = None) -> ParallelRun:
    """Run `planner` in a thread (it plans here, or waits for the planner process) while
    draining; `announce` tells sender processes planning is over."""
    async with dispatcher.sender:
        planned = asyncio.Event()
        sending = asyncio.create_task(dispatcher.drain(only=only, stop=planned, idle_wait=POLL_SECONDS))
        started = time.perf_counter()
        failure: Exception | None = None
        try:
            plan = await asyncio.to_thread(planner)
        except Exception as err:  # noqa: BLE001 - raised below, once what was planned is sent
            failure = err
        finally:
            plan_seconds = time.perf_counter() - started
            planned.set()
            if announce is not None:
                announce()
            await sending
        sent = await dispatcher.drain(only=only)  # what the polling drain handed back, and the rest
        if failure is not None:
            raise failure
    here = SenderResult(pid=os.getpid(), report=sent.as_dict(), errors=sent.errors[:20],
                        peak_rss_mb=round(_peak_rss_mb(), 1))
    return ParallelRun(plan=plan, sent=sent, senders=[here], plan_seconds=plan_seconds)


def _planner(engine: Engine, *, force: bool, only: str | None, now: datetime | None,
             batch: int) -> Callable[[], PlanReport]:
    """What plans this run, to be called in a thread: `plan_digests` here, or (started now,
    before any thread or connection of this run) in a process of its own."""
    now = now or utcnow()
    if plan_apart(engine, only):
        return start_planner(engine, now, force=force, batch_size=batch, first_batch=FIRST_PLAN_BATCH).result
    from digest.jobs.planning import plan_digests  # the ranking code: only where it runs

    return functools.partial(plan_digests, engine, now, force=force, only=only, batch_size=batch,
                             first_batch=FIRST_PLAN_BATCH)


def plan_and_send(engine: Engine, settings: Settings, *, processes: int, force: bool = False,
                  now: datetime | None = None) -> ParallelRun:
    """Plan what is due (here, once) and send it from this process and `processes` - 1 others.

    Raises SenderFailed after every child has ended when one of them died; the rows it
    held are claimable again once their lease expires.
    """
    planner = _planner(engine, force=force, only=None, now=now, batch=PLAN_BATCH)  # first: it may fork
    context = multiprocessing.get_context("spawn")
    planned, results = context.Event(), context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    children = [context.Process(target=_sender_main, args=(url, settings, planned, results),
                                name=f"digest-sender-{n + 1}", daemon=True) for n in range(processes - 1)]
    for child in children:
        child.start()
    try:
        with quiet_collector():
            here = asyncio.run(_plan_while_sending(_dispatcher_for(engine, settings), planner, only=None,
                                                   announce=planned.set))
    finally:
        planned.set()  # even when this process failed: what planning wrote is sent
        children_done = _collect(children, results)
    plan, plan_seconds, senders = here.plan, here.plan_seconds, here.senders + children_done
    from digest.jobs.dispatch import SendReport

    total = SendReport()
    for result in senders:
        for name, value in result.report.items():
            setattr(total, name, getattr(total, name) + value)
        total.errors.extend(result.errors)
    failed = [r for r in senders if r.failure]
    if failed:
        raise SenderFailed("; ".join(f"sender process {r.pid} failed: {r.failure}" for r in failed)
                           + " (its messages are sent by the next run)")
    return ParallelRun(plan=plan, sent=total, senders=senders, plan_seconds=plan_seconds)


def _collect(children: list, results) -> list[SenderResult]:
    """Every child's result; a child that died without one is reported as failed."""
    found: dict[int, SenderResult] = {}
    while len(found) < len(children):
        try:
            result = results.get(timeout=0.5)
            found[result.pid] = result
        except queue_module.Empty:
            for child in children:
                if not child.is_alive() and child.pid not in found and results.empty():
                    found[child.pid] = SenderResult(pid=child.pid, failure=f"exited with code {child.exitcode}")
    for child in children:
        child.join()
    return [found[child.pid] for child in children]


def _sender_main(url: str, settings: Settings, planned, results) -> None:
    """A child: send until planning is done and nothing is left to claim, then report."""
    from digest.store.db import open_engine

    result = SenderResult(pid=os.getpid(), failure="interrupted")  # until it finishes
    engine = None
    try:
        engine = open_engine(url)
        with quiet_collector():
            report = asyncio.run(_drain_while_planning(_dispatcher_for(engine, settings), planned))
        result.report, result.errors, result.failure = report.as_dict(), report.errors[:20], None
    except Exception as err:  # noqa: BLE001 - reported to the parent, which says so
        result.failure = f"{type(err).__name__}: {err}"
    finally:
        if engine is not None:
            engine.dispose()
        result.peak_rss_mb = round(_peak_rss_mb(), 1)
        results.put(result)


async def _drain_while_planning(dispatcher: Dispatcher, planned) -> SendReport:
    """Poll for rows while the parent plans; once it is done, one ordinary drain.

    Stopping the polling drain hands back the rows claimed but not started (a few hundred
    at most); the final drain claims them again.
    """
    async with dispatcher.sender:
        if not planned.is_set():
            stop = asyncio.Event()
            watcher = asyncio.create_task(_set_when_planned(planned, stop))
            await dispatcher.drain(stop=stop, idle_wait=POLL_SECONDS)
            await watcher
        return await dispatcher.drain()


async def _set_when_planned(planned, stop: asyncio.Event) -> None:
    parent = multiprocessing.parent_process()
    while not await asyncio.to_thread(planned.wait, 0.5):
        if parent is not None and not parent.is_alive():
            break  # the planner is gone: send what is there and stop
    stop.set()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
