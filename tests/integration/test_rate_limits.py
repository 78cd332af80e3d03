"""Rate limits kept in the database: sliding windows, several rules, several processes,
restarts, and racing requests (issue 15 item 6)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from digest.jobs import rate_limits
from digest.jobs.rate_limits import Limit
from digest.store import rate_limits as store
from digest.store.db import open_engine

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
HOURLY = Limit("test", ((3, timedelta(hours=1)),))


def test_a_limit_is_a_sliding_window_per_key(engine):
    hits = [rate_limits.hit(engine, HOURLY, "a", now=NOW + timedelta(minutes=m)) for m in (0, 10, 20, 30)]
    assert hits[:3] == [None, None, None] and hits[3] == 30 * 60  # the first slot frees at +60 min
    assert rate_limits.hit(engine, HOURLY, "b", now=NOW + timedelta(minutes=30)) is None
    assert rate_limits.hit(engine, HOURLY, "a", now=NOW + timedelta(minutes=61)) is None  # it slid out
    assert rate_limits.hit(engine, HOURLY, "a", now=NOW + timedelta(minutes=62)) == 8 * 60


def test_every_rule_of_a_limit_holds(engine):
    mails = rate_limits.CONFIRM_MAILS  # 1 per 15 minutes, 5 per day
    allowed = [rate_limits.hit(engine, mails, "victim", now=NOW + timedelta(minutes=m)) is None
               for m in range(0, 24 * 60, 5)]
    assert sum(allowed) == 5 and allowed[:4] == [True, False, False, True]


def test_limits_hold_across_processes_and_restarts(database_url):
    one, two = open_engine(database_url), open_engine(database_url)
    assert rate_limits.hit(one, HOURLY, "net", now=NOW) is None
    assert rate_limits.hit(two, HOURLY, "net", now=NOW) is None
    one.dispose(), two.dispose()
    again = open_engine(database_url)
    assert rate_limits.hit(again, HOURLY, "net", now=NOW) is None
    assert rate_limits.hit(again, HOURLY, "net", now=NOW) is not None
    again.dispose()


def test_racing_requests_never_get_more_than_the_limit(database_url):
    engines = [open_engine(database_url) for _ in range(4)]
    results: list[int | None] = []
    lock = threading.Lock()

    def hammer(engine) -> None:
        for _ in range(5):
            outcome = rate_limits.hit(engine, HOURLY, "race", now=NOW)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=hammer, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 3 and len(results) == 20
    for engine in engines:
        engine.dispose()


def test_old_events_are_pruned(engine):
    for minutes in (0, 1):
        rate_limits.hit(engine, HOURLY, f"k{minutes}", now=NOW + timedelta(minutes=minutes))
    assert rate_limits.prune(engine, now=NOW + rate_limits.KEEP) == 0
    assert rate_limits.prune(engine, now=NOW + rate_limits.KEEP + timedelta(seconds=90)) == 2
    with engine.connect() as conn:
        assert store.count(conn) == 0
