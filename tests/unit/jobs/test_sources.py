"""Source definitions: intervals, names and locations, checked before anything is stored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import SourceError
from digest.jobs import sources as source_jobs


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("1m", 60), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 2H ", 7200), ("1h 5m", 3900)],
)
def test_parse_interval(text, seconds):
    assert source_jobs.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "abc", "1w", "-5m", "1.5h", "30 minutes", "59s", "0m", "366d"])
def test_bad_intervals_are_user_errors(text):
    with pytest.raises(SourceError) as caught:
        source_jobs.parse_interval(text)
    assert caught.value.exit_code == 1
    assert "\n" not in str(caught.value)


@given(st.integers(min_value=60, max_value=365 * 86400))
def test_format_interval_reads_back(seconds):
    assert source_jobs.parse_interval(source_jobs.format_interval(seconds)) == seconds


def test_format_interval_examples():
    assert [source_jobs.format_interval(s) for s in (0, 90, 1800, 5400, 86400)] == ["-", "1m30s", "30m", "1h30m", "1d"]


def test_check_name():
    assert source_jobs.check_name("  arxiv-ai ") == "arxiv-ai"
    for bad in ("", "   ", "x" * 101, "tab\there"):
        with pytest.raises(SourceError):
            source_jobs.check_name(bad)


def test_resolve_location_urls():
    assert source_jobs.resolve_location("https://rss.arxiv.org/rss/cs.AI") == ("url", "https://rss.arxiv.org/rss/cs.AI")
    assert source_jobs.resolve_location(" http://127.0.0.1:8080/feed ")[0] == "url"
    for bad in ("ftp://example.org/feed", "file:///tmp/x", "http://", "https://host:99999999/"):
        with pytest.raises(SourceError):
            source_jobs.resolve_location(bad)


def test_resolve_location_folders(tmp_path, monkeypatch):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "file.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert source_jobs.resolve_location("inbox") == ("dir", str((tmp_path / "inbox").resolve()))
    with pytest.raises(SourceError, match="no such directory"):
        source_jobs.resolve_location("missing")
    with pytest.raises(SourceError, match="is a file"):
        source_jobs.resolve_location("file.txt")
