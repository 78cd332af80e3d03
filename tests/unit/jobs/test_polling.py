"""Polling building blocks without a database: HF listing days and the poll outcome."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from digest.errors import FetchError, SnapshotError
from digest.jobs import polling
from digest.jobs.polling import PollOutcome

NOW = datetime(2026, 8, 6, 0, 5, tzinfo=timezone.utc)


# --- HF listing days -------------------------------------------------------------------


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_hf_api_url_becomes_yesterday_and_today_utc():
    urls = polling.listing_urls("https://huggingface.co/api/daily_papers?limit=30", NOW)
    assert [query(u)["date"] for u in urls] == [["2026-08-05"], ["2026-08-06"]]
    assert all(query(u)["limit"] == ["30"] and u.startswith("https://huggingface.co/api/daily_papers?") for u in urls)


def test_hf_days_are_utc_days_whatever_the_zone_of_now():
    from zoneinfo import ZoneInfo

    late_in_new_york = datetime(2026, 8, 5, 21, 0, tzinfo=ZoneInfo("America/New_York"))  # 01:00 UTC on the 6th
    urls = polling.listing_urls("https://huggingface.co/api/daily_papers", late_in_new_york)
    assert [query(u)["date"] for u in urls] == [["2026-08-05"], ["2026-08-06"]]


def test_other_urls_and_dated_hf_urls_are_fetched_as_they_are():
    for url in ("https://huggingface.co/api/daily_papers?date=2026-01-02", "https://rss.arxiv.org/rss/cs.AI",
                "https://huggingface.co/api/papers/2601.00001", "https://example.org/api/daily_papers"):
        assert polling.listing_urls(url, NOW) == [url]


# --- outcome ---------------------------------------------------------------------------


def test_outcome_error_is_one_line_with_a_count_and_the_worst_exit_code():
    outcome = PollOutcome(source="s", kind="dir")
    assert outcome.error is None
    outcome.fail(SnapshotError("not a snapshot\nsecond line", input="a.txt"))
    outcome.fail(FetchError("boom"))
    outcome.fail(SnapshotError("bad", input="b.txt"))
    assert outcome.error == "a.txt: not a snapshot second line (and 2 more)"
    assert outcome.exit_code == 2
    assert outcome.as_dict()["ok"] is False and len(outcome.as_dict()["errors"]) == 3
