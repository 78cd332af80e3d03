"""Planning in a process of its own while this one sends (`digest run`, from PLAN_APART_FROM
active subscribers).

In one process ranking and sending share one interpreter lock. Measured at 5,000
subscribers x 5,000 papers (one sending process, 8 connections, the disk-writing sink):
while the planner thread ranked (~1.7 s of CPU with the index) sending crawled at ~330
emails/s, against ~650-770 once it was done. A child (forked where the system can)
plans instead, writing the outbox rows exactly as the thread would, and hands back its
PlanReport; this process sends meanwhile and never imports the ranking code. The child
costs its start-up (importing the ranking code, ~0.15 s of CPU forked, ~0.5 s spawned), so
small runs keep the thread. The wall time of 5,000 subscribers x 5,000 papers went from
9.9-10.3 s to 9.4-9.5 s, its CPU from 7.6-7.9 s to 7.4-7.5 s (planner included).
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import resource
import signal
import sys
from datetime import datetime

from sqlalchemy import Engine

from digest.errors import DigestError
from digest.jobs.plan_report import PlanReport
from digest.store import subscribers as subscriber_store

__all__ = ["PLAN_APART_FROM", "PlannerProcess", "PlanningFailed", "plan_apart", "start_planner"]

# At 2,000 subscribers x 5,000 papers, three interleaved pairs: apart 4.80-5.07 s wall and
# 4.3-4.4 s CPU, in a thread 4.87-5.38 s and 4.6 s (no thread hand-offs, no ranking imports here).
PLAN_APART_FROM = 2_000
# Forked on Linux: the child starts with this process's modules (SQLAlchemy, the settings)
# instead of importing them again (spawned, the first rows came ~0.3 s later). It is forked
# before sending starts, so no sender thread or SMTP connection is copied, and it opens an
# engine of its own; this process's pooled connections are disposed of first. Elsewhere it
# is spawned (macOS's system libraries are not safe to fork; Windows cannot).
_START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
WAIT_SECONDS = 0.5  # how often the parent checks that the planner is still alive


class PlanningFailed(DigestError):
    """The planner process failed or died; what it wrote is sent, the rest is planned next run."""

    exit_code = 2


def plan_apart(engine: Engine, only: str | None) -> bool:
    """Whether this run plans in a process of its own: PLAN_APART_FROM active subscribers or more."""
    if only is not None:
        return False
    with engine.connect() as conn:
        active = subscriber_store.count_active(conn)
    return active >= PLAN_APART_FROM


class PlannerProcess:
    """A planner child started by `start_planner`; `result()` waits for its report."""

    def __init__(self, child, results):
        self.child, self.results = child, results

    def result(self) -> PlanReport:
        """The child's PlanReport, once it is done. Raises PlanningFailed."""
        try:
            outcome = _outcome(self.child, self.results)
        finally:
            self.child.join()
        if isinstance(outcome, PlanReport):
            return outcome
        raise PlanningFailed(f"planning failed in its process: {outcome} "
                             "(what it planned is sent; run again for the rest)")


def start_planner(engine: Engine, now: datetime, *, force: bool, batch_size: int,
                  first_batch: int | None) -> PlannerProcess:
    """Start `plan_digests` in a child. Call it before this process starts threads or opens
    SMTP connections (a forked child would copy them)."""
    context = multiprocessing.get_context(_START_METHOD)
    results = context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()  # no pooled connection is shared with a forked child
    child = context.Process(target=_planner_main, args=(url, now, force, batch_size, first_batch, results),
                            name="digest-planner", daemon=True)
    child.start()
    return PlannerProcess(child, results)


def _outcome(child, results) -> PlanReport | str:
    """The child's report or error; a child that died without one is described by its exit code."""
    while True:
        try:
            return results.get(timeout=WAIT_SECONDS)
        except queue_module.Empty:
            if child.is_alive():
                continue
            try:  # it may have put its result just before exiting
                return results.get(timeout=WAIT_SECONDS)
            except queue_module.Empty:
                return f"the planner process exited with code {child.exitcode}"


def _planner_main(url: str, now: datetime, force: bool, batch_size: int, first_batch: int | None, results) -> None:
    # Ctrl-C is the parent's to handle: it stops sending and, exiting, ends this daemon child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from digest.jobs.planning import plan_digests
    from digest.store.db import open_engine

    engine = None
    outcome: PlanReport | str
    try:
        engine = open_engine(url)
        outcome = plan_digests(engine, now, force=force, batch_size=batch_size, first_batch=first_batch)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which raises it
        outcome = f"{type(err).__name__}: {err}"
    finally:
        if engine is not None:
            engine.dispose()
    if isinstance(outcome, PlanReport):
        outcome.process_peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results.put(outcome)
