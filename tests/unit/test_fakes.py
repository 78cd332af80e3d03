"""The shared test doubles behave as the tests rely on."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from digest.mail.sender import SendResult
from tests.fakes import FakeClock, MemorySender
from tests.fakes import sample_outgoing as outgoing


def test_fake_clock_moves_only_when_told():
    monotonic = FakeClock()
    monotonic.sleep(1.5)
    monotonic.advance(minutes=1)
    assert monotonic() == 61.5 and monotonic.slept == [1.5]
    wall = FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    wall.advance(hours=2)
    assert wall() == datetime(2026, 1, 1, 2, tzinfo=timezone.utc)


def test_memory_sender_fails_only_when_told():
    sender = MemorySender()
    sender.fail(2, times=1)
    sender.fail(3, permanent=True)

    async def run() -> list[SendResult]:
        return [await sender.send(outgoing(i)) for i in (1, 2, 3, 2)]

    results = asyncio.run(run())
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].transient and results[1].code == 451
    assert results[2].permanent and results[2].code == 550
    assert [m.delivery_id for m in sender.sent] == [1, 2]
    assert len(sender.attempts) == 4
