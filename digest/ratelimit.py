"""Rate limits: the two algorithms the service needs, each keyed and thread-safe.

* `Pacer` spaces events evenly: at most one per `interval` seconds per key, with an
  optional burst (GCRA). The SMTP sender paces messages with it (`per_second`), polling
  paces requests to each host (one per 3 s, arXiv's rule).
* `SlidingWindow` allows at most `limit` events in any `window` seconds per key (an
  exact sliding log). The SMTP sender's hourly cap waits for a slot (`reserve`); the web
  signup limit refuses instead (`hit`).

Both only compute: `reserve` returns how long the caller must wait for the slot it just
took; sleeping is the caller's (or `acquire`'s). Keys idle for a whole interval or
window hold no state worth keeping, so memory stays bounded by `max_keys`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from typing import Callable, Hashable

__all__ = ["Pacer", "SlidingWindow"]

Clock = Callable[[], float]


class _Keyed:
    """Per-key state with a lock and a bound on the number of keys (least recently used go first)."""

    def __init__(self, clock: Clock, max_keys: int):
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def _touch(self, table: dict, key: Hashable, fresh: Callable[[], object]) -> object:
        state = table.pop(key, None)
        table[key] = state = fresh() if state is None else state  # re-inserted: dict order is LRU order
        return state

    def _bound(self, table: dict, idle: Callable[[object], bool]) -> None:
        if len(table) <= self._max_keys:
            return
        for key in [k for k, state in table.items() if idle(state)]:
            del table[key]
        while len(table) > self._max_keys:
            del table[next(iter(table))]

    async def acquire(self, key: Hashable = None) -> None:
        """Wait (asynchronously) for a slot for `key`."""
        delay = self.reserve(key)  # type: ignore[attr-defined]
        if delay > 0:
            await asyncio.sleep(delay)

    def wait(self, key: Hashable = None, *, sleep: Callable[[float], None] = time.sleep) -> float:
        """Block until a slot for `key`; returns the seconds waited."""
        delay = self.reserve(key)  # type: ignore[attr-defined]
        if delay > 0:
            sleep(delay)
        return delay


class Pacer(_Keyed):
    """At most one event per `interval` seconds per key, after a burst of `burst` (GCRA).

    Each caller reserves the key's next free slot, so waiting costs one timer, there is
    no polling, and callers go in arrival order. A caller that gives up loses its slot
    (the limit errs on the slow side). Idle time does not build up more than the burst.
    """

    def __init__(self, interval: float, *, burst: int = 1, clock: Clock = time.monotonic, max_keys: int = 100_000):
        if interval <= 0 or burst < 1:
            raise ValueError("interval must be > 0 and burst >= 1")
        super().__init__(clock, max_keys)
        self.interval = interval
        self._tolerance = (burst - 1) * interval
        self._tat: dict[Hashable, float] = {}  # theoretical arrival time of each key's next event

    @classmethod
    def per_second(cls, rate: float, *, burst: int = 1, clock: Clock = time.monotonic) -> "Pacer":
        if rate <= 0:
            raise ValueError("rate must be > 0")
        return cls(1.0 / rate, burst=burst, clock=clock)

    def reserve(self, key: Hashable = None) -> float:
        """Take `key`'s next slot; return how long the caller must wait for it (seconds)."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, now), now)
            self._tat[key] = tat + self.interval
            self._bound(self._tat, lambda next_at: next_at <= now)
        return max(0.0, tat - self._tolerance - now)


class SlidingWindow(_Keyed):
    """At most `limit` events in any `window` seconds per key (a rolling hour by default).

    Keeps each key's last `limit` event times. Exact, unlike a token bucket, which lets up
    to twice the limit through in some rolling window.
    """

    def __init__(self, limit: int, window: float = 3600.0, *, clock: Clock = time.monotonic,
                 max_keys: int = 100_000):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        super().__init__(clock, max_keys)
        self.limit = limit
        self.window = window
        self._hits: dict[Hashable, deque[float]] = {}

    def _next_free(self, times: deque[float], now: float) -> float:
        return max(now, times[0] + self.window) if len(times) == self.limit else now

    def reserve(self, key: Hashable = None) -> float:
        """Take `key`'s next slot, however far off; return how long to wait for it (seconds)."""
        with self._lock:
            now = self._clock()
            times = self._touch(self._hits, key, lambda: deque(maxlen=self.limit))
            at = self._next_free(times, now)
            times.append(at)  # slots are taken in order, so the deque stays sorted
            self._bound(self._hits, lambda log: not log or log[-1] <= now - self.window)
        return at - now

    def hit(self, key: Hashable = None) -> int | None:
        """Record an event for `key` if one is allowed now: None, else whole seconds until one is."""
        with self._lock:
            now = self._clock()
            times = self._touch(self._hits, key, lambda: deque(maxlen=self.limit))
            at = self._next_free(times, now)
            if at > now:
                return max(1, math.ceil(at - now))
            times.append(now)
            self._bound(self._hits, lambda log: not log or log[-1] <= now - self.window)
        return None
