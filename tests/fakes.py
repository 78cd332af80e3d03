"""The test doubles every test shares: a clock that moves only when told, and a recording sender.

Small real classes, not patches of our modules (see the design notes).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

from digest.mail.message import build_message
from digest.mail.message_ids import make_message_id
from digest.mail.sender import AsyncClosing, Outgoing, SendResult, Stage


class FakeClock:
    """A clock that moves only when a test advances it or someone sleeps on it.

    `now` is a float (a monotonic clock: limiters, the circuit breaker, fetch pacing) or
    an aware datetime (the wall clock jobs take). `sleep` records each wait and moves the
    clock by it, so code that waits runs instantly and the test sees how long it waited.
    """

    def __init__(self, now: float | datetime = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float | datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move forward by `seconds` (and, for a datetime clock, timedelta keywords such as hours=1)."""
        if isinstance(self.now, datetime):
            self.now += timedelta(seconds=seconds, **delta)
        else:
            self.now += seconds + timedelta(**delta).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class MemorySender(AsyncClosing):
    """A Sender that keeps accepted messages in `sent`; every call (accepted or not) is in `attempts`.

    Everything is accepted unless `fail()` said otherwise for a delivery id.
    """

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.attempts: list[Outgoing] = []
        self._failures: dict[int, tuple[SendResult, int | None]] = {}
        self._crashes: dict[int, Exception] = {}
        self.closed = False

    def crash(self, delivery_id: int, error: Exception) -> None:
        """Make the send of this id raise `error` (a broken sender), once."""
        self._crashes[delivery_id] = error

    def fail(self, delivery_ids: int | Iterable[int], *, permanent: bool = False, code: int | None = None,
             reply: str = "", maybe_delivered: bool = False, times: int | None = None) -> None:
        """Make sends of these ids fail: the next `times` attempts, or always (None)."""
        ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
        code = code if code is not None else (550 if permanent else 451)
        text = reply or ("mailbox unavailable" if permanent else "try again later")
        for delivery_id in ids:
            result = SendResult(delivery_id=delivery_id, ok=False, permanent=permanent, code=code, reply=text,
                                maybe_delivered=maybe_delivered, stage=Stage.REPLY)
            self._failures[delivery_id] = (result, times)

    async def send(self, message: Outgoing) -> SendResult:
        if self.closed:
            raise RuntimeError("MemorySender is closed")
        self.attempts.append(message)
        if message.delivery_id in self._crashes:
            raise self._crashes.pop(message.delivery_id)
        result, times = self._failures.get(message.delivery_id, (None, None))
        if result is not None and (times is None or times > 0):
            if times is not None:
                self._failures[message.delivery_id] = (result, times - 1)
            return result
        self.sent.append(message)
        return SendResult.accepted(message, code=250, reply="OK", stage=Stage.NONE)

    async def close(self) -> None:
        self.closed = True


def sample_outgoing(delivery_id: int, to: str | None = None) -> Outgoing:
    """A small real message for delivery `delivery_id` (with lines that need dot-stuffing)."""
    to = to or f"user{delivery_id}@example.com"
    data = build_message(
        from_addr="digest@example.org",
        from_name="Paper Digest",
        to_addr=to,
        to_name=None,
        subject=f"Digest {delivery_id}",
        # A line that is a lone "." must survive dot-stuffing.
        text=f"Hello,\n.\n.leading dot\npapers for {delivery_id}\n",
        html="<p>Hello</p>",
        message_id=make_message_id(delivery_id, "example.org"),
        date=datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc),
    )
    return Outgoing(delivery_id=delivery_id, mail_from="bounces@example.org", recipients=(to,), data=data)
