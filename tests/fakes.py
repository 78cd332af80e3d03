"""The test doubles every test shares: a clock that moves only when told, a recording sender,
and sample messages and digests.

Small real classes, not patches of our modules (see the design notes).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

from digest.compose import Links
from digest.mail.message import build_message
from digest.mail.message_ids import make_message_id
from digest.mail.sender import AsyncClosing, Outgoing, SendResult, Stage
from digest.models import Digest, Paper, RankedPaper, Subscriber


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


SAMPLE_LINKS = Links(manage_url="https://digest.example.org/manage/t", unsubscribe_url="https://digest.example.org/u/t",
                     feed_url="https://digest.example.org/feeds/s/t.atom",
                     feedback_url="https://digest.example.org/feedback/t")


def sample_digest(papers: int = 10) -> Digest:
    """A digest of `papers` ranked papers whose titles, author lists, upvotes and links vary
    in length and presence from paper to paper (to render with `SAMPLE_LINKS`)."""
    subscriber = Subscriber(email="ada@example.com", interests="token pooling", id=3, status="active")
    ranked = [RankedPaper(paper=Paper(title=f"Paper {n}: token pooling for long documents" + " and more" * (n % 7),
                                      abstract="A.", authors=tuple(f"Author {n}-{k}" for k in range(1 + n % 30)),
                                      id=n, key=f"k{n}", upvotes=n if n % 2 else None,
                                      links={"abs": f"https://arxiv.org/abs/2411.{n:05d}",
                                             "pdf": f"https://arxiv.org/pdf/2411.{n:05d}"}),
                          score=1.0, matched=("token pooling",),
                          snippet=f"…we study <b>token pooling</b> in {n} settings and find it helps…")
              for n in range(1, papers + 1)]
    return Digest(subscriber=subscriber, period="Fri 21 Nov 2025", papers=ranked, delivery_id=9)
