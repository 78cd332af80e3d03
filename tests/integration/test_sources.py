"""Polling sources into a real database (SQLite, and PostgreSQL when configured).

URL sources are served by an httpx.MockTransport (deterministic) and, once, by a real
http.server on 127.0.0.1; folder sources are temporary folders. Clocks are fakes: nothing
here really waits for a rate limit or a backoff.
"""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from digest.config import load_settings
from digest.errors import FetchError, SnapshotError, SourceUnavailable
from digest.jobs import ingest_bytes
from digest.fetch import Fetcher
from digest.jobs import polling as poll
from digest.ratelimit import Pacer
from digest.store import sources as source_store
from digest.store.db import write_transaction
from digest.store.tables import papers, snapshots
from tests.fakes import FakeClock

NOW = datetime(2026, 8, 6, 0, 5, tzinfo=timezone.utc)
FEED_URL = "https://rss.arxiv.org/rss/cs.AI"


class FakeServer:
    """A MockTransport handler: serves `routes[path]`, honours If-None-Match, logs requests."""

    def __init__(self, routes: dict[str, bytes | Callable[[httpx.Request], httpx.Response]], clock: FakeClock | None = None):
        self.routes = routes
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.times: list[tuple[str, float]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.clock is not None:
            self.times.append((request.url.host, self.clock.now))
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404)
        if callable(route):
            return route(request)
        etag = f'"{hash(route) & 0xFFFF:x}"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, content=route, headers={"ETag": etag, "Last-Modified": "Mon, 27 Apr 2026 04:00:00 GMT"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


@pytest.fixture
def settings():
    return load_settings()


@pytest.fixture
def feed(samples) -> bytes:
    return (samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def polite(clock, settings):
    """polite(client): a Fetcher over `client` whose per-host limit and backoff run on the fake clock."""
    pacer = Pacer(3.0, clock=clock)  # shared by every poll of the test, as the process-wide one is
    return lambda client: Fetcher.for_settings(settings, client=client, pacer=pacer, sleep=clock.sleep)


def add_source(engine, name: str, location: str, *, kind: str = "url", every: int = 1800, format: str | None = None):
    with write_transaction(engine) as conn:
        return source_store.add(conn, name=name, location=location, kind=kind, format=format,
                                interval_seconds=every, now=NOW - timedelta(days=1))


def reload(engine, name: str):
    with engine.connect() as conn:
        return source_store.get(conn, name)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --- URL sources -------------------------------------------------------------------------


def test_first_poll_ingests_then_the_etag_gets_a_304(engine, settings, feed, polite):
    server = FakeServer({"/rss/cs.AI": feed})
    client = server.client()
    source = add_source(engine, "arxiv", FEED_URL)

    reports = poll.poll_source(engine, settings, source, now=NOW, fetcher=polite(client))
    assert [(r.format, r.papers, r.new) for r in reports] == [("arxiv-rss", 3, 3)]
    stored = reload(engine, "arxiv")
    assert stored.etag and stored.last_modified == "Mon, 27 Apr 2026 04:00:00 GMT"
    assert stored.last_checked_at == stored.last_success_at == NOW and stored.last_error is None
    with engine.connect() as conn:
        assert conn.execute(select(snapshots.c.source_id, snapshots.c.input)).all() == [(source.id, FEED_URL)]

    later = NOW + timedelta(minutes=30)
    assert poll.poll_source(engine, settings, stored, now=later, fetcher=polite(client)) == []
    second = server.requests[1].headers
    assert second["if-none-match"] == stored.etag and second["if-modified-since"] == stored.last_modified
    again = reload(engine, "arxiv")
    assert again.last_checked_at == again.last_success_at == later and again.etag == stored.etag
    assert count(engine, snapshots) == 1 and count(engine, papers) == 3


def test_validators_are_kept_only_after_the_response_was_ingested(engine, settings, feed, polite):
    answers = iter([b"Lorem ipsum\n" * 20, feed])
    server = FakeServer({"/rss/cs.AI": lambda request: httpx.Response(200, content=next(answers), headers={"ETag": '"x"'})})
    source = add_source(engine, "arxiv", FEED_URL)
    with pytest.raises(SnapshotError):
        poll.poll_source(engine, settings, source, now=NOW, fetcher=polite(server.client()))
    failed = reload(engine, "arxiv")
    assert failed.etag is None and failed.last_error and failed.last_checked_at == NOW
    assert failed.last_success_at is None and count(engine, snapshots) == 0

    reports = poll.poll_source(engine, settings, failed, now=NOW + timedelta(hours=1), fetcher=polite(server.client()))
    assert "if-none-match" not in server.requests[1].headers
    assert reports[0].new == 3 and reload(engine, "arxiv").etag == '"x"' and reload(engine, "arxiv").last_error is None


def test_a_500_is_retried_and_the_poll_succeeds(engine, settings, feed, polite, clock):
    answers = iter([httpx.Response(500), httpx.Response(200, content=feed)])
    server = FakeServer({"/rss/cs.AI": lambda request: next(answers)})
    source = add_source(engine, "arxiv", FEED_URL)
    reports = poll.poll_source(engine, settings, source, now=NOW, fetcher=polite(server.client()))
    assert reports[0].new == 3 and len(server.requests) == 2
    assert clock.slept[0] == 1.0  # the first backoff
    assert reload(engine, "arxiv").last_error is None


def test_persistent_5xx_gives_up_after_three_attempts_and_records_it(engine, settings, polite, clock):
    server = FakeServer({"/rss/cs.AI": lambda request: httpx.Response(503)})
    source = add_source(engine, "arxiv", FEED_URL)
    with pytest.raises(FetchError, match="HTTP 503.*after 3 attempts"):
        poll.poll_source(engine, settings, source, now=NOW, fetcher=polite(server.client()))
    assert len(server.requests) == 3 and clock.slept[:2] == [1.0, 2.0]
    stored = reload(engine, "arxiv")
    assert "HTTP 503" in stored.last_error and "\n" not in stored.last_error
    assert stored.last_checked_at == NOW and stored.last_success_at is None


def test_poll_due_records_timeouts_and_goes_on_with_the_others(engine, settings, feed, polite):
    def slow(request):
        raise httpx.ReadTimeout("read timed out", request=request)

    server = FakeServer({"/slow": slow, "/rss/cs.AI": feed})
    add_source(engine, "slow", "https://slow.example.org/slow")
    add_source(engine, "arxiv", FEED_URL)
    outcomes = poll.poll_due_outcomes(engine, settings, now=NOW, fetcher=polite(server.client()))
    by_name = {o.source: o for o in outcomes}
    assert set(by_name) == {"arxiv", "slow"}
    assert by_name["arxiv"].reports[0].new == 3 and by_name["arxiv"].errors == []
    assert "timed out" in by_name["slow"].errors[0] and by_name["slow"].exit_code == 2
    assert "timed out after" in reload(engine, "slow").last_error
    assert reload(engine, "arxiv").last_error is None


def test_poll_due_returns_the_reports_and_logs_each_failing_source(engine, settings, feed, polite, caplog):
    server = FakeServer({"/rss/cs.AI": feed, "/gone": lambda request: httpx.Response(410)})
    add_source(engine, "arxiv", FEED_URL)
    add_source(engine, "gone", "https://example.org/gone")
    with caplog.at_level("WARNING", logger="digest.jobs.polling"):
        reports = poll.poll_due(engine, settings, now=NOW, fetcher=polite(server.client()))
    assert [(r.input, r.new) for r in reports] == [(FEED_URL, 3)]
    assert [r.getMessage() for r in caplog.records] == ["source gone: https://example.org/gone: HTTP 410 Gone"]
    assert caplog.records[0].source == "gone"


def test_the_scheduler_poll_job_runs_the_due_sources(engine, settings, tmp_path, samples, caplog):
    from digest.scheduler import poll_job

    folder = tmp_path / "drop"
    folder.mkdir()
    add_source(engine, "drop", str(folder), kind="dir")
    drop(folder, "listing.txt", (samples / "snapshots" / "hf-listing-plain.txt").read_bytes())
    with caplog.at_level("INFO"):
        poll_job(engine, settings, clock=lambda: datetime.now(timezone.utc))
    assert count(engine, papers) == 48 and (folder / "done" / "listing.txt").exists()
    assert reload(engine, "drop").last_success_at is not None


def test_per_host_limiter_spaces_requests_by_three_seconds(engine, settings, feed, clock, polite):
    other = b"<rss version='2.0'><channel><title>x</title></channel></rss>"
    server = FakeServer({"/rss/cs.AI": feed, "/rss/cs.LG": feed + b" ", "/feed": other}, clock=clock)
    sources = [
        add_source(engine, "ai", FEED_URL),
        add_source(engine, "elsewhere", "https://example.org/feed"),
        add_source(engine, "lg", "https://rss.arxiv.org/rss/cs.LG"),
    ]
    poll.poll_sources(engine, settings, sources, now=NOW, fetcher=polite(server.client()))
    arxiv = [t for host, t in server.times if host == "rss.arxiv.org"]
    assert len(arxiv) == 2 and arxiv[1] - arxiv[0] >= 3.0
    assert [t for host, t in server.times if host == "example.org"] == [0.0]  # another host is not held back
    assert clock.now == pytest.approx(3.0)  # fake time only: the test did not wait


def test_hf_api_source_polls_yesterday_and_today(engine, settings, samples, polite):
    days = {
        "2026-08-05": (samples / "hf-api" / "daily-papers-limit30.json").read_bytes(),
        "2026-08-06": (samples / "hf-api" / "daily-papers-5-pretty.json").read_bytes(),
    }

    def daily(request):
        return httpx.Response(200, content=days[request.url.params["date"]], headers={"ETag": '"same"'})

    server = FakeServer({"/api/daily_papers": daily})
    source = add_source(engine, "hf", "https://huggingface.co/api/daily_papers?limit=30")
    reports = poll.poll_source(engine, settings, source, now=NOW, fetcher=polite(server.client()))
    asked = [parse_qs(urlsplit(str(r.url)).query) for r in server.requests]
    assert [q["date"] for q in asked] == [["2026-08-05"], ["2026-08-06"]] and all(q["limit"] == ["30"] for q in asked)
    assert [r.format for r in reports] == ["hf-api", "hf-api"] and not any(r.duplicate_snapshot for r in reports)
    assert [r.input for r in reports] == [str(r.url) for r in server.requests]
    # Two resources: no validators are sent or kept for them.
    assert reload(engine, "hf").etag is None
    again = poll.poll_source(engine, settings, reload(engine, "hf"), now=NOW + timedelta(hours=1), fetcher=polite(server.client()))
    assert "if-none-match" not in server.requests[-1].headers
    assert all(r.duplicate_snapshot and r.new == 0 for r in again)


def test_poll_due_picks_unpaused_sources_whose_interval_has_passed(engine, settings, feed, polite):
    server = FakeServer({"/rss/cs.AI": feed, "/feed": feed})
    add_source(engine, "never-checked", FEED_URL, every=3600)
    add_source(engine, "paused", "https://example.org/feed")
    with write_transaction(engine) as conn:
        source_store.set_paused(conn, [reload(engine, "paused").id], True)
    source_store.ensure_source(engine, "manual")
    client = server.client()

    assert [o.source for o in poll.poll_due_outcomes(engine, settings, now=NOW, fetcher=polite(client))] == ["never-checked"]
    assert poll.poll_due_outcomes(engine, settings, now=NOW + timedelta(minutes=59), fetcher=polite(client)) == []
    due_again = poll.poll_due_outcomes(engine, settings, now=NOW + timedelta(hours=1), fetcher=polite(client))
    assert [(o.source, o.not_modified) for o in due_again] == [("never-checked", [FEED_URL])]
    assert len(server.requests) == 2


def test_a_due_source_is_claimed_by_one_poller_only(engine):
    source = add_source(engine, "arxiv", FEED_URL)
    with engine.connect() as conn:
        assert [row.name for row in source_store.due_sources(conn, now=NOW)] == ["arxiv"]
    with write_transaction(engine) as conn:
        assert source_store.claim(conn, source.id, seen_checked_at=None, now=NOW)
    with write_transaction(engine) as conn:
        assert not source_store.claim(conn, source.id, seen_checked_at=None, now=NOW)
    checked = reload(engine, "arxiv")
    later = NOW + timedelta(hours=1)
    with write_transaction(engine) as conn:
        assert source_store.claim(conn, source.id, seen_checked_at=checked.last_checked_at, now=later)
        assert not source_store.claim(conn, source.id, seen_checked_at=checked.last_checked_at, now=later)


def test_check_writes_nothing_and_matches_what_poll_then_does(engine, settings, feed, polite, samples):
    ingest_bytes(engine, (samples / "snapshots" / "hf-listing-compact.txt").read_bytes(), input="seed")
    metadata = (samples / "snapshots" / "hf-listing-with-metadata.txt").read_bytes()
    server = FakeServer({"/rss/cs.AI": feed, "/listing": metadata})
    client = server.client()
    arxiv = add_source(engine, "arxiv", FEED_URL)
    listing = add_source(engine, "listing", "https://example.org/listing")
    before = (count(engine, papers), count(engine, snapshots), reload(engine, "arxiv"))

    checked = [poll.check_source(engine, settings, s, now=NOW, fetcher=polite(client)) for s in (arxiv, listing)]
    assert (count(engine, papers), count(engine, snapshots), reload(engine, "arxiv")) == before
    preview = [o.reports[0] for o in checked]
    assert [(r.new, r.updated, r.snapshot_id) for r in preview] == [(3, 0, None), (0, 38, None)]

    polled = [o.reports[0] for o in poll.poll_sources(engine, settings, [arxiv, listing], now=NOW, fetcher=polite(client))]
    assert [(r.papers, r.new, r.updated, r.unchanged) for r in polled] == [(r.papers, r.new, r.updated, r.unchanged) for r in preview]
    # After the poll the URL is unchanged: check sends the ETag and reports 304.
    after = poll.check_source(engine, settings, reload(engine, "arxiv"), now=NOW, fetcher=polite(client))
    assert after.not_modified == [FEED_URL] and after.reports == []


# --- one real HTTP server ----------------------------------------------------------------


@contextmanager
def serve_feed(body: bytes, etag: str = '"feed-1"', status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on 127.0.0.1 in a thread serving `body` at any path with an ETag.

    Yields (base URL, list of the request headers it saw).
    """
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append(dict(self.headers))
            if status != 200:
                self.send_error(status)
                return
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            """Keep the test output quiet: the test reads `seen` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() otherwise waits up to half a second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_real_http_server_conditional_get(engine, settings, feed):
    no_wait = Fetcher.for_settings(settings, pacer=Pacer(1e-6))
    with serve_feed(feed) as (base, seen):
        source = add_source(engine, "local", f"{base}/rss/cs.AI")
        first = poll.poll_source(engine, settings, source, now=NOW, fetcher=no_wait)
        second = poll.poll_source(engine, settings, reload(engine, "local"), now=NOW + timedelta(hours=1), fetcher=no_wait)
    assert [r.new for r in first] == [3] and second == []
    assert "If-None-Match" not in seen[0] and seen[1]["If-None-Match"] == '"feed-1"'
    assert seen[0]["User-Agent"].startswith("paper-digest/")
    assert reload(engine, "local").etag == '"feed-1"'


# --- folder sources ----------------------------------------------------------------------


def drop(folder, name: str, data: bytes, *, age: float = 60.0):
    """Put a file in the folder, last modified `age` seconds ago (settled unless age < 2)."""
    path = folder / name
    path.write_bytes(data)
    mtime = datetime.now(timezone.utc).timestamp() - age
    os.utime(path, (mtime, mtime))
    return path


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def poll_now(engine, settings, source) -> list:
    return poll.poll_source(engine, settings, source, now=datetime.now(timezone.utc))


def test_a_dropped_snapshot_is_ingested_once_and_moved_to_done(engine, settings, inbox, samples):
    plain = (samples / "snapshots" / "hf-listing-plain.txt").read_bytes()
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    drop(inbox, "hf-listing-plain.txt", plain)
    reports = poll_now(engine, settings, source)
    assert [(r.papers, r.new, r.duplicate_snapshot) for r in reports] == [(48, 48, False)]
    assert names(inbox) == ["done"] and names(inbox / "done") == ["hf-listing-plain.txt"]
    stored = reload(engine, "inbox")
    assert stored.last_error is None and stored.last_success_at is not None
    assert poll_now(engine, settings, stored) == []  # nothing new: nothing ingested twice

    drop(inbox, "same-content-other-name.txt", plain)
    drop(inbox, "hf-listing-plain.txt", plain)
    again = poll_now(engine, settings, stored)
    assert [(r.new, r.duplicate_snapshot) for r in again] == [(0, True), (0, True)]
    assert names(inbox / "done") == ["hf-listing-plain.1.txt", "hf-listing-plain.txt", "same-content-other-name.txt"]
    assert count(engine, snapshots) == 1 and count(engine, papers) == 48


def test_a_bad_file_goes_to_failed_with_its_error_and_the_others_still_go_in(engine, settings, inbox, samples):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    drop(inbox, "garbage.txt", b"\x00\x01\x02 not a listing", age=90)
    shutil.copy(samples / "snapshots" / "hf-listing-plain.txt", inbox / "good.txt")
    os.utime(inbox / "good.txt", (0, 1e9))
    reports = poll_now(engine, settings, source)
    assert [r.new for r in reports] == [48]
    assert names(inbox / "failed") == ["garbage.txt", "garbage.txt.error.txt"]
    assert names(inbox / "done") == ["good.txt"] and names(inbox) == ["done", "failed"]
    error = (inbox / "failed" / "garbage.txt.error.txt").read_text()
    assert "garbage.txt" in error and "binary data" in error
    stored = reload(engine, "inbox")
    assert "garbage.txt" in stored.last_error and stored.last_success_at is not None


def test_a_folder_with_only_a_bad_file_raises_after_filing_it(engine, settings, inbox):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    drop(inbox, "page.html", b"<!doctype html><html><body>saved the wrong thing</body></html>")
    with pytest.raises(SnapshotError, match="HTML page"):
        poll_now(engine, settings, source)
    assert names(inbox / "failed") == ["page.html", "page.html.error.txt"]
    assert reload(engine, "inbox").last_success_at is None


def test_a_file_still_being_written_waits_for_the_next_poll(engine, settings, inbox, samples):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    drop(inbox, "listing.txt", (samples / "snapshots" / "hf-listing-plain.txt").read_bytes(), age=0)
    drop(inbox, ".listing.txt.swp", b"editor state")
    drop(inbox, "download.txt.part", b"half a file")
    outcome = poll.poll_sources(engine, settings, [source], now=datetime.now(timezone.utc))[0]
    assert outcome.reports == [] and outcome.waiting == ["listing.txt"] and outcome.errors == []
    assert names(inbox) == [".listing.txt.swp", "download.txt.part", "listing.txt"]

    settled = datetime.now(timezone.utc) + timedelta(seconds=5)
    reports = poll.poll_source(engine, settings, source, now=settled)
    assert [r.new for r in reports] == [48]
    assert names(inbox) == [".listing.txt.swp", "done", "download.txt.part"]


def test_a_missing_folder_is_recorded_and_raised(engine, settings, inbox):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    inbox.rmdir()
    with pytest.raises(SourceUnavailable):
        poll_now(engine, settings, source)
    stored = reload(engine, "inbox")
    assert "directory not found" in stored.last_error and stored.last_success_at is None
    outcomes = poll.poll_due_outcomes(engine, settings, now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert outcomes[0].exit_code == 2  # reported, not raised


def test_check_of_a_folder_moves_nothing(engine, settings, inbox, samples):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    drop(inbox, "listing.txt", (samples / "snapshots" / "hf-listing-plain.txt").read_bytes())
    drop(inbox, "junk.txt", b"")
    outcome = poll.check_source(engine, settings, source, now=datetime.now(timezone.utc))
    assert [r.new for r in outcome.reports] == [48] and len(outcome.errors) == 1 and "junk.txt" in outcome.errors[0]
    assert names(inbox) == ["junk.txt", "listing.txt"] and count(engine, snapshots) == 0
    assert reload(engine, "inbox").last_checked_at is None


# --- the store -----------------------------------------------------------------------------


def test_store_add_duplicate_remove_keeps_snapshots(engine, settings, inbox, samples):
    source = add_source(engine, "inbox", str(inbox), kind="dir")
    with pytest.raises(source_store.DuplicateSource), write_transaction(engine) as conn:
        source_store.add(conn, name="inbox", location="/elsewhere", kind="dir", format=None, interval_seconds=60, now=NOW)
    drop(inbox, "listing.txt", (samples / "snapshots" / "hf-listing-plain.txt").read_bytes())
    poll_now(engine, settings, source)
    with write_transaction(engine) as conn:
        source_store.remove(conn, source.id)
    with engine.connect() as conn:
        assert source_store.find(conn, "inbox") is None
        assert conn.execute(select(snapshots.c.source_id)).scalars().all() == [None]
