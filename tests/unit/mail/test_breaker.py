"""CircuitBreaker: opening at the threshold, cooldown, the half-open probe, what counts."""

from __future__ import annotations

import logging

import pytest

from digest.mail.breaker import CircuitBreaker
from digest.mail.sender import SendResult
from tests.fakes import FakeClock


def breaker(clock: FakeClock, **kw) -> CircuitBreaker:
    kw = {"window": 10, "threshold": 0.5, "min_samples": 4, "cooldown_seconds": 60, **kw}
    return CircuitBreaker(clock=clock, **kw)


def result(ok: bool, permanent: bool = False, stage: str = "reply") -> SendResult:
    return SendResult(delivery_id=1, ok=ok, permanent=permanent, code=250 if ok else (550 if permanent else 451), stage=stage)


def test_closed_until_min_samples_even_if_all_failed():
    b = breaker(FakeClock(1000.0))
    for _ in range(3):
        b.record(False)
    assert b.state == "closed" and b.allow()
    b.record(False)
    assert b.state == "open" and not b.allow()


def test_opens_exactly_at_the_threshold_of_the_window():
    b = breaker(FakeClock(1000.0))
    for ok in [True] * 6 + [False] * 3:
        b.record(ok)
    assert b.state == "closed"  # 3 of 9
    b.record(False)  # 4 of 10 ...
    assert b.state == "closed"
    b.record(False)  # the oldest success leaves the window: 5 of 10 = threshold
    assert b.state == "open"


def test_old_failures_leave_the_window():
    b = breaker(FakeClock(1000.0), window=4, min_samples=4, threshold=0.75)
    for ok in [False, False, True, True, True, True, False, False]:
        b.record(ok)
    # 4 failures in all, but only 2 of the last 4: still closed.
    assert b.state == "closed"
    b.record(False)
    assert b.state == "open"  # 3 of the last 4


def test_half_open_after_cooldown_allows_one_probe_and_success_closes():
    clock = FakeClock(1000.0)
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 59.9
    assert b.state == "open" and not b.allow() and b.retry_in == pytest.approx(0.1)
    clock.now += 0.1
    assert b.state == "half-open"
    assert b.allow() is True
    assert b.allow() is False  # only one probe at a time
    b.record(True)
    assert b.state == "closed" and b.allow()
    # The window was cleared: three failures do not re-open it.
    for _ in range(3):
        b.record(False)
    assert b.state == "closed"


def test_failed_probe_reopens_for_another_cooldown():
    clock = FakeClock(1000.0)
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 60
    assert b.allow()
    b.record(False)
    assert b.state == "open" and not b.allow()
    clock.now += 60
    assert b.state == "half-open" and b.allow()


def test_a_probe_whose_outcome_is_never_reported_is_replaced_after_a_cooldown():
    clock = FakeClock(1000.0)
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 60
    assert b.allow() and not b.allow()
    clock.now += 59
    assert not b.allow()
    clock.now += 1
    assert b.allow()


def test_outcomes_reported_while_open_are_ignored():
    clock = FakeClock(1000.0)
    b = breaker(clock)
    for _ in range(4):
        b.record(False)
    b.record(True)  # a straggler that started before the breaker opened
    assert b.state == "open"


def test_permanent_failure_for_one_address_does_not_count():
    b = breaker(FakeClock(1000.0))
    for _ in range(20):
        b.record_result(result(False, permanent=True, stage="rcpt"))
        b.record_result(result(False, permanent=True, stage="reply"))
    assert b.state == "closed"


def test_transient_failures_and_refused_sender_count():
    b = breaker(FakeClock(1000.0))
    b.record_result(result(False))  # 451
    b.record_result(SendResult(delivery_id=1, ok=False, reply="cannot connect", stage="connect"))
    b.record_result(result(False, permanent=True, stage="mail"))  # relay refuses our sender
    assert b.state == "closed"
    b.record_result(result(False))
    assert b.state == "open"


def test_successes_keep_it_closed():
    b = breaker(FakeClock(1000.0))
    for _ in range(100):
        b.record_result(result(True))
    assert b.state == "closed"


def test_logs_warning_when_opening_and_info_when_closing(caplog):
    clock = FakeClock(1000.0)
    b = CircuitBreaker(window=50, threshold=0.5, min_samples=20, cooldown_seconds=60, clock=clock)
    caplog.set_level(logging.INFO, logger="digest.mail")
    for ok in [True] * 19 + [False] * 31:
        b.record(ok)
        if b.state == "open":
            break
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "digest.mail"
    assert "pausing sending" in warnings[0].getMessage() and "retrying in 60 s" in warnings[0].getMessage()
    clock.now += 60
    assert b.allow()
    b.record(True)
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert infos and "resuming sending" in infos[-1].getMessage()


def test_rejects_nonsense_parameters():
    with pytest.raises(ValueError):
        CircuitBreaker(window=10, min_samples=20)
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)
