"""Ingest into a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import func, select, text

from digest.config import load_settings
from digest.errors import SnapshotError
from digest.fetch import Fetcher
from digest.jobs import ingest_bytes
from digest.jobs.ingest import ingest_location
from digest.ratelimit import Pacer
from digest.store.papers import list_papers
from digest.store.tables import papers, sightings, snapshots
from tests.fakes import FakeClock

SNAPSHOTS = ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt")


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (papers, snapshots, sightings))


def ingest_file(engine, path, **kwargs):
    return ingest_bytes(engine, path.read_bytes(), input=path.name, **kwargs)


def test_three_layouts_in_order_give_the_documented_counts(engine, samples):
    reports = [ingest_file(engine, samples / "snapshots" / name) for name in SNAPSHOTS]
    assert [r.new for r in reports] == [119, 0, 40]
    assert reports[1].updated == 38
    assert [r.papers for r in reports] == [119, 38, 48]
    assert not any(r.duplicate_snapshot for r in reports)
    with engine.connect() as conn:
        stored = list_papers(conn)
    assert len(stored) == 159
    assert len({p.key for p in stored}) == 159
    assert not [p.title for p in stored if p.title.startswith("Subscribe") or "Daily Papers" in p.title]


def test_reingesting_is_recognised_and_changes_nothing(engine, samples):
    for name in SNAPSHOTS:
        ingest_file(engine, samples / "snapshots" / name)
    before = counts(engine)
    for name in SNAPSHOTS:
        again = ingest_file(engine, samples / "snapshots" / name)
        assert again.duplicate_snapshot and again.new == 0 and again.updated == 0
    assert counts(engine) == before


def test_metadata_snapshot_updates_stored_papers(engine, samples):
    ingest_file(engine, samples / "snapshots" / "hf-listing-compact.txt")
    ingest_file(engine, samples / "snapshots" / "hf-listing-with-metadata.txt")
    with engine.connect() as conn:
        stored = {p.title: p for p in list_papers(conn)}
        upvotes = conn.execute(select(func.count()).select_from(sightings).where(sightings.c.upvotes.is_not(None))).scalar_one()
    concept = stored["Concept-Aware Batch Sampling Improves Language-Image Pretraining"]
    assert concept.organization == "Bethgelab" and concept.upvotes == 2
    assert stored["Order Theory in the Context of Machine Learning"].author_count == 5
    assert upvotes == 8


def test_bad_input_leaves_the_database_exactly_as_it_was(engine, samples):
    ingest_file(engine, samples / "snapshots" / "hf-listing-compact.txt")
    before = counts(engine)
    for bad in (b"", b"\x00\x01garbage", b"<html><body>hello</body></html>", b"Lorem ipsum\n" * 50):
        with pytest.raises(SnapshotError):
            ingest_bytes(engine, bad, input="bad")
    assert counts(engine) == before


def test_a_failure_while_writing_rolls_the_whole_snapshot_back(engine, samples):
    """A constraint violation half-way through the writes leaves no trace of the snapshot."""
    ingest_file(engine, samples / "snapshots" / "hf-listing-compact.txt")
    before = counts(engine)
    with engine.begin() as conn:
        # Sabotage: the 31st sighting insert fails, after the snapshot and papers rows went in.
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON sightings WHEN NEW.position = 30 "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            ))
        else:
            conn.execute(text(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.position = 30 THEN RAISE EXCEPTION 'boom'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            ))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON sightings FOR EACH ROW EXECUTE FUNCTION boom()"))
    with pytest.raises(Exception, match="boom"):
        ingest_file(engine, samples / "snapshots" / "hf-listing-plain.txt")
    assert counts(engine) == before


def test_concurrent_ingest_of_the_same_content_stores_it_once(engine, samples):
    data = (samples / "snapshots" / "hf-listing-plain.txt").read_bytes()
    reports, errors = [], []

    def run():
        try:
            reports.append(ingest_bytes(engine, data, input="same"))
        except Exception as err:  # the assertion below shows it
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.duplicate_snapshot for r in reports) == [False, True, True]
    assert counts(engine)[:2] == (48, 1)


def test_a_url_is_fetched_like_a_polled_source(engine, samples):
    """`digest ingest URL` and polling share one fetch path: a 503 is retried with backoff, and
    the second request to the host waits for the per-host limit."""
    feed = (samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503) if len(calls) == 1 else httpx.Response(200, content=feed)

    clock, settings = FakeClock(), load_settings()
    fetcher = Fetcher.for_settings(settings, client=httpx.Client(transport=httpx.MockTransport(handler)),
                                   pacer=Pacer(3.0, clock=clock), sleep=clock.sleep)
    report = ingest_location(engine, settings, "https://rss.arxiv.org/rss/cs.AI", fetcher=fetcher)
    assert report.new == 3 and len(calls) == 2
    assert clock.slept == [1.0, 2.0]  # 1 s backoff, then topped up to the host's 3 s
