"""`digest sources ...` through the real command: add, list, pause, resume, remove, check,
poll, and every user error (exit 1, one line on stderr)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

import pytest

from tests.integration.test_sources import serve_feed


COMMANDS = ("add", "list", "remove", "pause", "resume", "check", "poll")


@pytest.fixture(autouse=True)
def _no_rate_limit_waits(no_fetch_waits):
    """The CLI uses the process-wide per-host limit; tests poll 127.0.0.1 back to back."""


@pytest.fixture
def feed_server(samples):
    with serve_feed((samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes()) as (base, seen):
        yield base, seen


def settled_copy(source, folder, name=None):
    """Copy a sample into the folder with an old mtime, as if dropped a minute ago."""
    target = folder / (name or source.name)
    shutil.copy(source, target)
    old = datetime.now(timezone.utc).timestamp() - 60
    os.utime(target, (old, old))
    return target


def sources_json(cli) -> dict[str, dict]:
    ran = cli("sources", "list", "--json")
    assert ran.exit_code == 0, ran.stderr
    return {row["name"]: row for row in ran.json()}


def assert_user_error(ran, *words: str) -> None:
    """Exit 1 with exactly one `error:` line on stderr containing every word."""
    assert ran.exit_code == 1, (ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), ran.stderr
    for word in words:
        assert word in lines[0]


def test_every_command_has_help_with_an_example(cli):
    for command in COMMANDS:
        ran = cli("sources", command, "--help")
        assert ran.exit_code == 0 and "Example:" in ran.stdout, command


def test_add_list_pause_resume_remove(cli, inbox):
    added = cli("sources", "add", "arxiv-ai", "https://rss.arxiv.org/rss/cs.AI", "--every", "2h", "--format", "arxiv-rss", "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["kind"] == "url" and added.json()["interval_seconds"] == 7200
    folder = cli("sources", "add", "inbox", str(inbox))
    assert folder.exit_code == 0 and "added source inbox (dir, every 30m)" in folder.stdout

    listed = sources_json(cli)
    assert listed["arxiv-ai"]["every"] == "2h" and listed["arxiv-ai"]["format"] == "arxiv-rss"
    assert listed["inbox"]["location"] == str(inbox.resolve()) and listed["inbox"]["paused"] is False
    assert listed["inbox"]["last_checked_at"] is None and listed["inbox"]["next_check_at"] is None
    table = cli("sources", "list")
    assert table.exit_code == 0 and "2 sources" in table.stdout and "arxiv-ai" in table.stdout and "2h" in table.stdout

    assert cli("sources", "pause", "arxiv-ai").stdout.strip() == "paused arxiv-ai"
    assert sources_json(cli)["arxiv-ai"]["paused"] is True
    assert cli("sources", "resume", "arxiv-ai").exit_code == 0
    assert sources_json(cli)["arxiv-ai"]["paused"] is False

    kept = cli("sources", "remove", "arxiv-ai", input="n\n")
    assert kept.exit_code == 1 and "arxiv-ai" in sources_json(cli)
    removed = cli("sources", "remove", "arxiv-ai", input="y\n")
    assert removed.exit_code == 0 and "arxiv-ai" not in sources_json(cli)
    assert cli("sources", "remove", "inbox", "--yes").exit_code == 0
    assert sources_json(cli) == {}


def test_add_errors_are_one_line_user_errors(cli, inbox, tmp_path):
    assert cli("sources", "add", "inbox", str(inbox)).exit_code == 0
    assert_user_error(cli("sources", "add", "inbox", "https://example.org/feed"), "already exists")
    for interval in ("5s", "abc", "10", "1w"):
        assert_user_error(cli("sources", "add", "x", "https://example.org/feed", "--every", interval), "interval")
    assert_user_error(cli("sources", "add", "x", str(tmp_path / "no-such-folder")), "no such directory")
    (tmp_path / "one.txt").write_text("x")
    assert_user_error(cli("sources", "add", "x", str(tmp_path / "one.txt")), "is a file")
    assert_user_error(cli("sources", "add", "x", "ftp://example.org/feed"), "http")
    assert_user_error(cli("sources", "add", "x", "https://example.org/feed", "--format", "pdf"), "unknown format")
    assert_user_error(cli("sources", "add", "  ", "https://example.org/feed"), "name")
    assert set(sources_json(cli)) == {"inbox"}


@pytest.mark.parametrize("command", ["pause", "resume", "remove", "check", "poll"])
def test_unknown_name_is_a_one_line_user_error(cli, command):
    args = ["sources", command, "nope"] + (["--yes"] if command == "remove" else [])
    ran = cli(*args)
    assert_user_error(ran, "no source named 'nope'")
    assert ran.stdout == ""


def test_manual_sources_are_listed_but_never_polled(cli, samples):
    assert cli("ingest", "--source", "by-hand", str(samples / "snapshots" / "hf-listing-plain.txt")).exit_code == 0
    assert sources_json(cli)["by-hand"]["kind"] == "manual"
    assert_user_error(cli("sources", "resume", "by-hand"), "manual")
    assert_user_error(cli("sources", "poll", "by-hand"), "nothing to poll")
    assert sources_json(cli)["by-hand"]["last_checked_at"] is None  # not a poll: nothing recorded
    assert cli("sources", "poll").stdout.strip().startswith("no sources to poll")


def test_check_then_poll_a_folder(cli, inbox, samples):
    cli("sources", "add", "inbox", str(inbox))
    settled_copy(samples / "snapshots" / "hf-listing-plain.txt", inbox)
    checked = cli("sources", "check", "inbox", "--json")
    assert checked.exit_code == 0, checked.stderr
    report = checked.json()[0]["reports"][0]
    assert (report["papers"], report["new"], report["snapshot_id"]) == (48, 48, None)
    assert sorted(p.name for p in inbox.iterdir()) == ["hf-listing-plain.txt"]  # nothing moved
    assert sources_json(cli)["inbox"]["last_checked_at"] is None  # nothing recorded

    polled = cli("sources", "poll", "--json")
    assert polled.exit_code == 0, polled.stderr
    assert [r["new"] for r in polled.json()[0]["reports"]] == [48]
    assert (inbox / "done" / "hf-listing-plain.txt").exists()
    assert cli("papers", "list", "--json").json().__len__() == 48
    row = sources_json(cli)["inbox"]
    assert row["last_checked_at"] and row["last_success_at"] and row["last_error"] is None
    assert "nothing new" in cli("sources", "poll", "inbox").stdout


def test_a_bad_file_shows_as_an_error_and_the_exit_code_says_so(cli, inbox, samples):
    cli("sources", "add", "inbox", str(inbox))
    settled_copy(samples / "snapshots" / "hf-listing-plain.txt", inbox)
    junk = inbox / "junk.txt"
    junk.write_bytes(b"\x00 not text")
    os.utime(junk, (0, 1e9))
    ran = cli("sources", "poll", "inbox")
    assert ran.exit_code == 1
    assert "48 new" in ran.stdout and "junk.txt" in ran.stderr
    assert (inbox / "failed" / "junk.txt.error.txt").exists()
    assert "junk.txt" in sources_json(cli)["inbox"]["last_error"]
    assert "junk" in cli("sources", "list").stdout  # the table shows the last error


def test_poll_and_check_a_url_with_a_real_server(cli, feed_server):
    base, seen = feed_server
    cli("sources", "add", "local", f"{base}/rss/cs.AI", "--every", "1m")
    preview = cli("sources", "check", "local")
    assert preview.exit_code == 0 and "would add 3 new" in preview.stdout
    first = cli("sources", "poll", "local")
    assert first.exit_code == 0 and "3 papers" in first.stdout and "3 new" in first.stdout
    assert sources_json(cli)["local"]["etag"] == '"feed-1"'
    second = cli("sources", "poll", "local", "--json")
    assert second.json()[0]["not_modified"] == [f"{base}/rss/cs.AI"]
    assert "not modified (304)" in cli("sources", "check").stdout
    assert seen[-1]["If-None-Match"] == '"feed-1"'
    # Just polled, every 1m: nothing is due yet.
    assert cli("sources", "poll", "--due", "--json").json() == []


def test_a_failing_url_exits_2_and_is_recorded(cli, samples):
    with serve_feed(b"", status=404) as (base, _):
        cli("sources", "add", "broken", f"{base}/missing")
        ran = cli("sources", "poll", "broken")
    assert ran.exit_code == 2 and "HTTP 404" in ran.stderr
    assert "HTTP 404" in sources_json(cli)["broken"]["last_error"]


def test_poll_due_and_name_together_is_a_usage_error(cli, inbox):
    cli("sources", "add", "inbox", str(inbox))
    assert_user_error(cli("sources", "poll", "inbox", "--due"), "not both")
    assert sources_json(cli)["inbox"]["last_checked_at"] is None  # refused before polling anything
