"""Feeds over windows of days, on each backend: a search's `days` picks exactly the papers first
seen in that window (every `days` shares one index of the widest window, narrowed by an id
cursor), and papers stored only from a subscriber's imported library are in no public feed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import feedparser

from digest.jobs import profiles
from digest.jobs.feeds import feed_bytes
from digest.jobs.ingest import ingest_bytes
from digest.jobs.subscribers import add_subscriber
from digest.subscribers import SubscriberSpec

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
BASE = "https://digest.example.org"
PRIVATE = "A diary of my own rare disease and its pooling"


def titles(engine, **kwargs) -> set[str]:
    return {e.title for e in feedparser.parse(feed_bytes(engine, base_url=BASE, format="atom", now=NOW,
                                                         **kwargs)).entries}


def test_a_search_window_holds_exactly_the_papers_first_seen_in_it(engine, samples):
    old = ingest_bytes(engine, (samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes(), input="old",
                       now=NOW - timedelta(days=10))
    new = ingest_bytes(engine, (samples / "hf-api" / "daily-papers-limit30.json").read_bytes(), input="new",
                       now=NOW - timedelta(days=2))
    assert old.new and new.new
    everything = titles(engine, query="", days=30)
    recent = titles(engine, query="", days=3)
    assert len(recent) == min(new.new, 50) and recent < everything
    assert titles(engine, query="", days=2) == recent  # first seen exactly 2 days ago: inside
    assert titles(engine, query="", days=1) == set()
    assert titles(engine, query="", days=11) == everything


def test_papers_only_a_library_holds_are_in_no_public_feed(engine, samples, tmp_path):
    ingest_bytes(engine, (samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes(), input="feed",
                 now=NOW - timedelta(days=1))
    add_subscriber(engine, SubscriberSpec(email="bob@example.org", interests="pooling", status="active"))
    bib = f"@article{{mine, title={{{PRIVATE}}}, author={{Bob Private}}, doi={{10.5555/p.1}}, year={{2026}}}}\n"
    plan = profiles.plan_library(engine, "bob@example.org", bib.encode(), name="bob.bib")
    profiles.apply_library(engine, plan, now=NOW - timedelta(hours=1))
    for feed in (titles(engine), titles(engine, query="pooling", days=7), titles(engine, query="", days=30),
                 titles(engine, subscriber_email="bob@example.org")):
        assert PRIVATE not in feed
    assert titles(engine)  # the listed papers are there
