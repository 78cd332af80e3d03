"""A circuit breaker that pauses sending while the relay is in trouble.

Pure bookkeeping: no I/O, no sleeping; the clock is injectable. The delivery loop asks
`allow()` before each send and reports each outcome with `record()` (or
`record_result()`, which applies the counting policy below).

What counts as a failure (`record_result`): relay trouble, i.e. transient failures
(connection errors, timeouts, 4xx replies), plus 5xx replies to MAIL FROM (the relay
refusing *our sender* refuses every message). A 5xx for one recipient or one message
is about that address, not the relay, so it is not recorded at all: a list with a few
dead addresses must never pause the whole run. A consequence worth knowing: a relay
that answers 5xx to every RCPT (e.g. "554 relay access denied") does not trip it.

States: "closed" (sending), "open" (paused for `cooldown_seconds`), "half-open" (the
cooldown is over: `allow()` lets exactly one probe through; its success closes the
breaker and clears the window, its failure opens it again for another cooldown; a
probe whose outcome is never reported is replaced after one more cooldown).
Outcomes reported while open are ignored: they belong to sends started before it
opened. In half-open, the first outcome reported decides.

4xx replies count even at RCPT, where they may be about one address (greylisting,
mailbox full): with the default threshold (half of the last 50) only a relay-wide
problem trips it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable, Literal, Protocol

__all__ = ["CircuitBreaker"]

log = logging.getLogger("digest.mail")

State = Literal["closed", "open", "half-open"]


class _ResultLike(Protocol):
    ok: bool
    permanent: bool
    stage: str


class CircuitBreaker:
    """Open when at least `threshold` of the last `window` outcomes failed (once there
    are `min_samples` of them); stay open `cooldown_seconds`; then probe once."""

    def __init__(
        self,
        window: int = 50,
        threshold: float = 0.5,
        min_samples: int = 20,
        cooldown_seconds: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ):
        if window < 1 or not 0 < threshold <= 1 or not 1 <= min_samples <= window or cooldown_seconds < 0:
            raise ValueError("need window >= 1, 0 < threshold <= 1, 1 <= min_samples <= window, cooldown >= 0")
        self.window = window
        self.threshold = threshold
        self.min_samples = min_samples
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._failures = 0
        self._opened_at = 0.0
        self._open = False
        self._probe_at: float | None = None  # when the half-open probe was let through

    @property
    def state(self) -> State:
        if not self._open:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_seconds:
            return "half-open"
        return "open"

    @property
    def retry_in(self) -> float:
        """Seconds until the breaker will let a probe through (0 unless open)."""
        if not self._open:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())

    def allow(self) -> bool:
        """May a message be sent now? In half-open, True once (the probe), then False
        until that probe's outcome is recorded - or, should it never be, until another
        cooldown has passed, so a lost probe cannot pause sending for good."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        if self._probe_at is not None and now - self._probe_at < max(self.cooldown_seconds, 1e-9):
            return False
        self._probe_at = now
        return True

    def record(self, ok: bool) -> None:
        """Count one outcome (True = success)."""
        state = self.state
        if state == "open":
            return
        if state == "half-open":
            if ok:
                self._close()
            else:
                self._trip(reopened=True)
            return
        self._push(ok)
        if len(self._outcomes) >= self.min_samples and self._failures >= self.threshold * len(self._outcomes):
            self._trip()

    def record_result(self, result: _ResultLike) -> None:
        """Count a `SendResult` by the policy in the module docstring."""
        if result.ok:
            self.record(True)
        elif not result.permanent or result.stage == "mail":
            self.record(False)
        # other permanent failures are about one address: not counted

    # -- internals ---------------------------------------------------------------------

    def _push(self, ok: bool) -> None:
        if len(self._outcomes) == self._outcomes.maxlen and not self._outcomes[0]:
            self._failures -= 1
        self._outcomes.append(ok)
        if not ok:
            self._failures += 1

    def _trip(self, reopened: bool = False) -> None:
        self._open = True
        self._probe_at = None
        self._opened_at = self._clock()
        if reopened:
            log.warning("still failing: the probe message failed; pausing sending, retrying in %g s", self.cooldown_seconds)
        else:
            log.warning(
                "pausing sending: %d of the last %d messages failed; retrying in %g s",
                self._failures, len(self._outcomes), self.cooldown_seconds,
            )

    def _close(self) -> None:
        self._open = False
        self._probe_at = None
        self._outcomes.clear()
        self._failures = 0
        log.info("resuming sending: the probe message went through")
