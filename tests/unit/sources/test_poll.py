"""Polling building blocks without a database: intervals, locations, HF day URLs, the
per-host limiter, retries, and the folder scan and moves."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.config import load_settings
from digest.errors import FetchError, SnapshotError
from digest.sources import poll
from digest.sources.fetch import fetch_url
from digest.sources.poll import HostRateLimiter, PollOutcome, SourceError

NOW = datetime(2026, 8, 6, 0, 5, tzinfo=timezone.utc)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- intervals, names, locations -------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("1m", 60), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 2H ", 7200), ("1h 5m", 3900)],
)
def test_parse_interval(text, seconds):
    assert poll.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "abc", "1w", "-5m", "1.5h", "30 minutes", "59s", "0m", "366d"])
def test_bad_intervals_are_user_errors(text):
    with pytest.raises(SourceError) as caught:
        poll.parse_interval(text)
    assert caught.value.exit_code == 1
    assert "\n" not in str(caught.value)


@given(st.integers(min_value=60, max_value=365 * 86400))
def test_format_interval_reads_back(seconds):
    assert poll.parse_interval(poll.format_interval(seconds)) == seconds


def test_format_interval_examples():
    assert [poll.format_interval(s) for s in (0, 90, 1800, 5400, 86400)] == ["-", "1m30s", "30m", "1h30m", "1d"]


def test_check_name():
    assert poll.check_name("  arxiv-ai ") == "arxiv-ai"
    for bad in ("", "   ", "x" * 101, "tab\there"):
        with pytest.raises(SourceError):
            poll.check_name(bad)


def test_resolve_location_urls():
    assert poll.resolve_location("https://rss.arxiv.org/rss/cs.AI") == ("url", "https://rss.arxiv.org/rss/cs.AI")
    assert poll.resolve_location(" http://127.0.0.1:8080/feed ")[0] == "url"
    for bad in ("ftp://example.org/feed", "file:///tmp/x", "http://", "https://host:99999999/"):
        with pytest.raises(SourceError):
            poll.resolve_location(bad)


def test_resolve_location_folders(tmp_path, monkeypatch):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "file.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert poll.resolve_location("inbox") == ("dir", str((tmp_path / "inbox").resolve()))
    with pytest.raises(SourceError, match="no such directory"):
        poll.resolve_location("missing")
    with pytest.raises(SourceError, match="is a file"):
        poll.resolve_location("file.txt")


# --- HF listing days -------------------------------------------------------------------


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_hf_api_url_becomes_yesterday_and_today_utc():
    urls = poll.listing_urls("https://huggingface.co/api/daily_papers?limit=30", NOW)
    assert [query(u)["date"] for u in urls] == [["2026-08-05"], ["2026-08-06"]]
    assert all(query(u)["limit"] == ["30"] and u.startswith("https://huggingface.co/api/daily_papers?") for u in urls)


def test_hf_days_are_utc_days_whatever_the_zone_of_now():
    from zoneinfo import ZoneInfo

    late_in_new_york = datetime(2026, 8, 5, 21, 0, tzinfo=ZoneInfo("America/New_York"))  # 01:00 UTC on the 6th
    urls = poll.listing_urls("https://huggingface.co/api/daily_papers", late_in_new_york)
    assert [query(u)["date"] for u in urls] == [["2026-08-05"], ["2026-08-06"]]


def test_other_urls_and_dated_hf_urls_are_fetched_as_they_are():
    for url in ("https://huggingface.co/api/daily_papers?date=2026-01-02", "https://rss.arxiv.org/rss/cs.AI",
                "https://huggingface.co/api/papers/2601.00001", "https://example.org/api/daily_papers"):
        assert poll.listing_urls(url, NOW) == [url]


# --- per-host limiter ------------------------------------------------------------------


def test_limiter_spaces_requests_to_one_host():
    clock = FakeClock()
    limiter = HostRateLimiter(3.0, clock=clock, sleep=clock.sleep)
    assert limiter.wait("https://export.arxiv.org/a") == 0
    assert limiter.wait("https://export.arxiv.org/b") == 3.0
    assert limiter.wait("https://huggingface.co/api") == 0  # another host: no wait
    clock.now += 1.0
    assert limiter.wait("https://EXPORT.arxiv.org/c") == pytest.approx(2.0)  # host compared ignoring case
    clock.now += 10.0
    assert limiter.wait("https://export.arxiv.org/d") == 0
    assert clock.slept == [3.0, pytest.approx(2.0)]


def test_limiter_reserves_slots_so_callers_queue():
    clock = FakeClock()
    limiter = HostRateLimiter(3.0, clock=clock, sleep=lambda s: None)  # nobody actually waits
    waits = [limiter.wait("http://h/") for _ in range(4)]
    assert waits == [0, 3.0, 6.0, 9.0]


# --- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("status, retry", [(500, True), (503, True), (404, False), (429, False)])
def test_http_errors_from_fetch_say_whether_to_retry(status, retry):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    with pytest.raises(FetchError) as caught:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=client)
    assert caught.value.status == status
    assert poll.is_retryable(caught.value) is retry


def test_network_errors_are_retryable_and_the_size_cap_is_not():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(FetchError) as refused:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert poll.is_retryable(refused.value)
    huge = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 2000)))
    with pytest.raises(FetchError) as capped:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=huge)
    assert not poll.is_retryable(capped.value)


def fetcher(handler, clock: FakeClock | None = None, **settings) -> poll.Fetcher:
    clock = clock or FakeClock()
    return poll.Fetcher(
        load_settings(**settings),
        httpx.Client(transport=httpx.MockTransport(handler)),
        HostRateLimiter(3.0, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )


def scripted(*steps):
    """A handler answering with each step in turn: a status code or an exception to raise."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(request)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, content=b"<rss/>" if step == 200 else b"")

    return handler, calls


def test_network_error_then_success_is_retried_with_backoff():
    handler, calls = scripted(httpx.ConnectError("refused"), 502, 200)
    clock = FakeClock()
    fetched = fetcher(handler, clock).get("https://example.org/feed")
    assert fetched.data == b"<rss/>" and len(calls) == 3
    # Backoff 1 s then 2 s, each topped up by the limiter to 3 s since the previous request.
    assert clock.slept == [1.0, 2.0, 2.0, 1.0]
    assert clock.now == 6.0


def test_gives_up_after_three_attempts_naming_the_last_error():
    handler, calls = scripted(httpx.ReadTimeout("slow"))
    with pytest.raises(FetchError, match=r"timed out after .*\(after 3 attempts\)"):
        fetcher(handler).get("https://example.org/feed")
    assert len(calls) == 3


def test_client_errors_and_the_cap_are_not_retried():
    handler, calls = scripted(404)
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetcher(handler).get("https://example.org/feed")
    assert len(calls) == 1 and "attempts" not in str(caught.value)

    big = lambda request: httpx.Response(200, content=b"x" * 2000)  # noqa: E731
    calls_before = len(calls)
    with pytest.raises(FetchError, match="limit"):
        fetcher(big, max_snapshot_bytes=1000).get("https://example.org/feed")
    assert len(calls) == calls_before


def test_conditional_headers_are_sent():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(304)

    fetched = fetcher(handler).get("https://example.org/feed", etag='"abc"', last_modified="Mon, 27 Apr 2026 04:00:00 GMT")
    assert fetched.data is None and fetched.status == 304
    assert seen[0]["if-none-match"] == '"abc"' and seen[0]["if-modified-since"].startswith("Mon, 27 Apr")


# --- folders ---------------------------------------------------------------------------


def touch(path, mtime: float, text: str = "x"):
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_scan_folder_sorts_ready_files_and_holds_back_fresh_ones(tmp_path):
    now = datetime.now(timezone.utc)
    t = now.timestamp()
    touch(tmp_path / "b.txt", t - 100)
    touch(tmp_path / "a.txt", t - 50)
    touch(tmp_path / "fresh.txt", t - 0.5)
    for ignored in (".hidden", "x.part", "y.tmp", "z.crdownload", "backup~"):
        touch(tmp_path / ignored, t - 100)
    (tmp_path / "done").mkdir()
    touch(tmp_path / "done" / "old.txt", t - 100)
    ready, waiting = poll.scan_folder(tmp_path, now)
    assert [p.name for p in ready] == ["b.txt", "a.txt"]
    assert [p.name for p in waiting] == ["fresh.txt"]


def test_scan_of_a_missing_folder_is_a_system_error(tmp_path):
    with pytest.raises(poll.SourceUnavailable) as caught:
        poll.scan_folder(tmp_path / "gone", NOW)
    assert caught.value.exit_code == 2 and "directory not found" in str(caught.value)


def test_move_into_never_overwrites(tmp_path):
    done = tmp_path / "done"
    first = move_new(tmp_path, "listing.txt", "1", done)
    second = move_new(tmp_path, "listing.txt", "2", done)
    third = move_new(tmp_path, "listing.txt", "3", done)
    assert [p.name for p in (first, second, third)] == ["listing.txt", "listing.1.txt", "listing.2.txt"]
    assert [p.read_text() for p in (first, second, third)] == ["1", "2", "3"]
    assert not (tmp_path / "listing.txt").exists()


def move_new(folder, name, text, into):
    path = folder / name
    path.write_text(text)
    return poll.move_into(path, into)


# --- outcome ---------------------------------------------------------------------------


def test_outcome_error_is_one_line_with_a_count_and_the_worst_exit_code():
    outcome = PollOutcome("s", "dir")
    assert outcome.error is None
    outcome.fail(SnapshotError("not a snapshot\nsecond line", input="a.txt"))
    outcome.fail(FetchError("boom"))
    outcome.fail(SnapshotError("bad", input="b.txt"))
    assert outcome.error == "a.txt: not a snapshot second line (and 2 more)"
    assert outcome.exit_code == 2
    assert outcome.as_dict()["ok"] is False and len(outcome.as_dict()["errors"]) == 3
