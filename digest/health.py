"""Which background parts of a process have failed, and why: what `/healthz` reports.

`digest serve` runs the web app beside a sender, a scheduler and the sign-up task; if one
of them dies or keeps failing, the process must not look healthy while confirmations pile
up. Each part reports here; `/healthz` turns 503 while any is failing. A failure is logged
once, when it starts (with its cause), and once more when the part recovers, never on
every retry. Thread-safe: scheduler jobs report from worker threads.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("digest.health")


class Health:
    """Failing parts of this process, by name, with a one-line cause."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}
        self._lock = threading.Lock()

    def fail(self, part: str, cause: BaseException | str) -> bool:
        """Mark `part` failing; logs (with the traceback of an exception) only when it was not
        failing already. Returns True when this is a new failure."""
        reason = cause if isinstance(cause, str) else (f"{type(cause).__name__}: {cause}".splitlines()[0])
        with self._lock:
            new = part not in self._failing
            self._failing[part] = reason
        if new:
            log.error("%s failed: %s", part, reason,
                      exc_info=cause if isinstance(cause, BaseException) else None)
        return new

    def recover(self, part: str) -> bool:
        """Mark `part` healthy again; logs once if it was failing. Returns True if it was."""
        with self._lock:
            was = self._failing.pop(part, None) is not None
        if was:
            log.warning("%s recovered", part)
        return was

    def failing(self) -> dict[str, str]:
        with self._lock:
            return dict(self._failing)

    @property
    def ok(self) -> bool:
        with self._lock:
            return not self._failing
