"""Settling sent messages: group commits of outcomes, each sender awaiting its own (used by `jobs.dispatch`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from sqlalchemy import Engine

from digest.store import outbox
from digest.store.db import SqliteWriter, write_transaction
from digest.store.outbox import Settlement

__all__ = ["SETTLE_LINGER", "Settler"]

SETTLE_LINGER = 0.005  # seconds a settlement waits for others to share its commit (see Settler)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Settler:
    """Group commit of settlements: callers await their own settlement being durable.

    A commit waits up to `linger` seconds for more settlements to share it, unless all
    `size` senders are already waiting. Each sender still waits for its own settlement
    before sending again, so a crash resends no more than before. Measured at 5,000
    messages over 8 connections: committing at once made ~3,000 commits of 1.7
    settlements; a 2 ms linger makes ~1,700 of 2.9 and saved 0.7-2 s of the run's
    ~13 s CPU (fewer thread hand-offs and wake-ups), wall time no worse. With commits on
    the loop (below), 5 ms beat 2 ms in 5 of 6 interleaved pairs of 5,000-message runs
    (load ~1.6): 8.9-10.5 s CPU, not 9.6-11.0; 10.1-11.8 s wall, not 10.9-12.4. No
    linger at all was worse (10.4-10.8 s CPU).

    On SQLite the commit runs on the event loop itself rather than in a worker thread: a
    WAL commit (synchronous=NORMAL, no fsync) takes well under a millisecond, less than
    the thread hand-off and the loop's wake-up after it. Measured at 5,000 messages
    (one process, 8 connections, load ~1.5), two interleaved pairs: 10.1-10.5 s wall
    instead of 11.7-12.3 (478-496 emails/s, not 406-428), CPU 8.9-9.2 s, not 9.2-10.1.
    While another writer holds the lock, the loop waits with it (busy_timeout); the
    senders wait for their settlements then anyway. PostgreSQL commits are network
    round trips, so they stay in a thread.

    On SQLite the commits also go through one held driver connection (`store.db.SqliteWriter`)
    rather than a pooled SQLAlchemy Connection each: ~60 us of CPU a commit of 3, not ~170.
    `close()` gives it back.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime], *, size: int, linger: float = SETTLE_LINGER):
        self.engine = engine
        self.clock = clock
        self.size = size
        self.linger = linger
        self.pending: list[tuple[Settlement, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self._wake: asyncio.Future | None = None  # set while lingering: resolved when all senders wait
        self.in_loop = engine.dialect.name == "sqlite"
        self._writer: SqliteWriter | None = None  # opened on the first SQLite commit
        self._closed = False

    def close(self) -> None:
        """Give back the held SQLite connection. A settlement recorded later (a cancelled
        drain's) still commits, through a pooled connection of its own."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def record(self, settlement: Settlement) -> None:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((settlement, future))
        if len(self.pending) >= self.size and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self.pending:
            if len(self.pending) < self.size and self.linger > 0:
                await self._linger()
            batch, self.pending = self.pending, []
            try:
                if self.in_loop:
                    self._write([s for s, _ in batch])
                else:
                    await asyncio.to_thread(self._write, [s for s, _ in batch])
            except Exception as err:  # the futures carry it to each waiting sender
                for _, future in batch:
                    future.set_exception(err)
                continue
            for _, future in batch:
                future.set_result(None)

    async def _linger(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = wake = loop.create_future()
        timer = loop.call_later(self.linger, _resolve, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    def _write(self, settlements: list[Settlement]) -> None:
        if not self.in_loop or self._closed:
            with write_transaction(self.engine) as conn:
                outbox.settle(conn, settlements, now=self.clock())
            return
        if self._writer is None:
            self._writer = SqliteWriter(self.engine)
        with self._writer.begin() as conn:
            outbox.settle(conn, settlements, now=self.clock())
