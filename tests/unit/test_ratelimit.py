"""The two rate-limit algorithms: even spacing per key (Pacer) and an exact sliding window."""

from __future__ import annotations

import asyncio

import pytest

from digest.ratelimit import Pacer, SlidingWindow
from tests.fakes import FakeClock


def test_pacer_spaces_reservations_evenly():
    clock = FakeClock()
    pacer = Pacer.per_second(50, clock=clock)
    assert [round(pacer.reserve(), 3) for _ in range(4)] == [0.0, 0.02, 0.04, 0.06]
    clock.now = 10.0  # idle time does not build up a burst
    assert [round(pacer.reserve(), 3) for _ in range(2)] == [0.0, 0.02]


def test_pacer_allows_a_burst_then_spaces():
    pacer = Pacer(1.0, burst=3, clock=FakeClock())
    assert [pacer.reserve() for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_pacer_keys_are_independent_and_waits_queue_up():
    clock = FakeClock()
    hosts = Pacer(3.0, clock=clock)
    assert hosts.wait("export.arxiv.org", sleep=clock.sleep) == 0
    assert hosts.wait("export.arxiv.org", sleep=clock.sleep) == 3.0
    assert hosts.wait("huggingface.co", sleep=clock.sleep) == 0  # another key: no wait
    clock.now += 1.0
    assert hosts.wait("export.arxiv.org", sleep=clock.sleep) == pytest.approx(2.0)
    clock.now += 10.0
    assert hosts.wait("export.arxiv.org", sleep=clock.sleep) == 0
    assert clock.slept == [3.0, pytest.approx(2.0)]
    queued = Pacer(3.0, clock=FakeClock())
    assert [queued.reserve("h") for _ in range(4)] == [0, 3.0, 6.0, 9.0]  # nobody actually waited


def test_sliding_window_reserves_at_most_limit_per_window():
    clock = FakeClock()
    window = SlidingWindow(3, window=3600, clock=clock)
    assert [window.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now = 100.0
    assert window.reserve() == 3500.0  # waits until the first one leaves the hour
    clock.now = 3700.0
    assert window.reserve() == 0.0


def test_sliding_window_hit_refuses_without_taking_a_slot():
    clock = FakeClock(1000.0)
    window = SlidingWindow(2, window=60, clock=clock)
    assert [window.hit("a"), window.hit("a"), window.hit("a")] == [None, None, 60]
    clock.now += 59.5
    assert window.hit("a") == 1  # whole seconds, never 0
    clock.now += 0.5
    assert window.hit("a") is None and window.hit("b") is None


def test_keys_stay_bounded():
    clock = FakeClock()
    pacer, window = Pacer(1.0, clock=clock, max_keys=10), SlidingWindow(1, 60, clock=clock, max_keys=10)
    for n in range(100):
        pacer.reserve(n)
        window.hit(n)
    assert len(pacer._tat) <= 10 and len(window._hits) <= 10


def test_acquire_waits_for_the_slot():
    pacer = Pacer(0.01)

    async def two() -> None:
        await pacer.acquire()
        await pacer.acquire()

    asyncio.run(asyncio.wait_for(two(), 1.0))


@pytest.mark.parametrize("make", [lambda: Pacer(0), lambda: Pacer(1, burst=0), lambda: SlidingWindow(0),
                                  lambda: SlidingWindow(1, window=0), lambda: Pacer.per_second(0)])
def test_bad_limits_are_refused(make):
    with pytest.raises(ValueError):
        make()
