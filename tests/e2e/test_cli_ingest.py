"""`digest ingest` and `digest papers list` through the real command."""

from __future__ import annotations

import os

import pytest

SNAPSHOTS = ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt")


def snapshot(samples, name):
    return str(samples / "snapshots" / name)


def paper_count(cli) -> int:
    ran = cli("papers", "list", "--json")
    assert ran.exit_code == 0, ran.stderr
    return len(ran.json())


def test_ingest_json_reports_and_papers_list(cli, samples):
    ran = cli("ingest", "--json", *(snapshot(samples, n) for n in SNAPSHOTS))
    assert ran.exit_code == 0, ran.stderr
    reports = ran.json_lines()
    assert [(r["new"], r["updated"]) for r in reports] == [(119, 0), (0, 38), (40, 0)]
    for report in reports:
        assert {"input", "format", "papers", "new", "updated", "unchanged", "duplicate_snapshot"} <= set(report)
        assert report["format"] == "hf-page" and report["duplicate_snapshot"] is False
    listed = cli("papers", "list", "--json").json()
    assert len(listed) == 159
    for paper in listed:
        assert {"key", "arxiv_id", "title", "first_seen", "upvotes"} <= set(paper)
        assert not paper["title"].startswith(("Subscribe", "Get trending", "Daily Papers", "new"))


def test_reingest_prints_duplicate_snapshot(cli, samples):
    cli("ingest", *(snapshot(samples, n) for n in SNAPSHOTS))
    for name in SNAPSHOTS:
        again = cli("ingest", "--json", snapshot(samples, name)).json_lines()[0]
        assert again["new"] == 0 and again["duplicate_snapshot"] is True


def test_human_output_and_papers_table(cli, samples):
    ran = cli("ingest", snapshot(samples, "hf-listing-plain.txt"))
    assert ran.exit_code == 0
    assert "48 papers" in ran.stdout and "48 new" in ran.stdout
    table = cli("papers", "list", "--search", "Evolving Normalization", "--limit", "3")
    assert table.exit_code == 0 and "1 paper" in table.stdout and "Evolving" in table.stdout


def test_papers_list_filters(cli, samples):
    cli("ingest", snapshot(samples, "hf-listing-plain.txt"))
    assert len(cli("papers", "list", "--json", "--limit", "5").json()) == 5
    found = cli("papers", "list", "--json", "--search", "Pruning").json()
    assert found and all("pruning" in (p["title"] + p.get("abstract", "")).lower() for p in found)
    assert cli("papers", "list", "--json", "--since", "2999-01-01").json() == []


def test_stdin_input(cli, samples):
    data = (samples / "snapshots" / "hf-listing-plain.txt").read_bytes()
    ran = cli("ingest", "-", "--json", input=data)
    assert ran.exit_code == 0 and ran.json_lines()[0]["new"] == 48


def test_forced_format_and_unknown_format(cli, samples):
    bad = cli("ingest", "--format", "docx", snapshot(samples, "hf-listing-plain.txt"))
    assert bad.exit_code == 1 and "unknown format" in bad.stderr
    forced = cli("ingest", "--format", "hf-page", "--json", snapshot(samples, "hf-listing-plain.txt"))
    assert forced.exit_code == 0 and forced.json_lines()[0]["papers"] == 48


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
"""

BAD_INPUTS = {
    "empty.txt": (b"", "empty"),
    "garbage.bin": (bytes(range(256)) * 64, "binary"),
    "other-site.html": (b"<!DOCTYPE html><html><head><title>News</title></head><body><p>Hi</p></body></html>", "HTML page"),
    "other-site.txt": (b"Welcome to my blog\nAbout me\n" + b"I like cats. " * 30 + b"\nContact\n", "Daily Papers"),
    "truncated.json": (b'[{"paper": {"id": "2606.00467", "title": "On the Limits', "JSON"),
    "bomb.xml": (BILLION_LAUGHS, "entity"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_nonzero_with_one_line_and_changes_nothing(cli, samples, tmp_path, name):
    cli("ingest", snapshot(samples, "hf-listing-plain.txt"))
    data, expected = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_bytes(data)
    ran = cli("ingest", str(path))
    assert ran.exit_code == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert str(path) in lines[0] and expected.lower() in lines[0].lower()
    assert paper_count(cli) == 48


def test_huge_file_is_refused_by_size_before_reading(cli, tmp_path):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MB on paper, nothing on disk
    ran = cli("ingest", str(huge))
    assert ran.exit_code == 1
    assert "over the" in ran.stderr and "huge.txt" in ran.stderr
    assert paper_count(cli) == 0


def test_missing_file_and_one_good_input_among_bad(cli, samples, tmp_path):
    ran = cli("ingest", "--json", str(tmp_path / "nope.txt"), snapshot(samples, "hf-listing-plain.txt"))
    assert ran.exit_code == 1
    assert "nope.txt: no such file" in ran.stderr
    assert ran.json_lines()[0]["new"] == 48


def test_cut_off_snapshot_keeps_every_paper_and_warns(cli, samples, tmp_path):
    text = (samples / "snapshots" / "hf-listing-plain.txt").read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.rindex("Deep neural networks (DNNs) trained") + 50])
    ran = cli("ingest", "--json", str(cut))
    assert ran.exit_code == 0
    assert ran.json_lines()[0]["new"] == 48
    assert "may be cut off" in ran.stderr


def test_bad_setting_fails_with_one_line(cli, monkeypatch, samples):
    monkeypatch.setenv("DIGEST_MAX_SNAPSHOT_BYTES", "lots")
    ran = cli("ingest", snapshot(samples, "hf-listing-plain.txt"))
    assert ran.exit_code == 1
    assert ran.stderr.count("\n") == 1 and "DIGEST_MAX_SNAPSHOT_BYTES" in ran.stderr


def test_help_of_every_command_shows_an_example(cli):
    for args in (["ingest"], ["papers", "list"], ["db", "upgrade"], ["demo"]):
        ran = cli(*args, "--help")
        assert ran.exit_code == 0 and "Example" in ran.stdout, args


def test_db_upgrade_is_idempotent(cli):
    first = cli("db", "upgrade", "--json").json()
    second = cli("db", "upgrade", "--json").json()
    assert first["after"] == second["after"] == second["before"]
    assert second["changed"] is False


def test_demo_runs_the_pipeline_and_is_repeatable(tmp_path):
    import email
    import email.policy
    import json

    from typer.testing import CliRunner

    from digest.cli.app import app

    folder = tmp_path / "demo"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--folder", str(folder), "--json"])
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["papers"] >= 159 and report["sent"] == 3 and len(report["emails"]) == 3
    for path in report["emails"]:
        message = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
        assert message.get_body(("html",)) is not None and message["List-Unsubscribe"]
    assert (folder / "papers.atom").read_bytes().startswith(b"<?xml")
    again = json.loads(runner.invoke(app, ["demo", "--folder", str(folder), "--json"]).stdout)
    assert all(item["duplicate_snapshot"] for item in again["inputs"])
    assert again["sent"] == 0 and again["emails"] == []
    assert os.path.exists(folder / "digest.db")


def test_url_ingest_with_a_source_keeps_the_etag_and_sends_it_next_time(cli, samples, no_fetch_waits):
    from tests.integration.test_sources import serve_feed

    body = (samples / "feeds" / "arxiv-rss-cs-ai.xml").read_bytes()
    with serve_feed(body, etag='"v1"') as (base, seen):
        first = cli("ingest", f"{base}/rss/cs.AI", "--source", "arxiv-ai", "--json")
        assert first.exit_code == 0, first.stderr
        assert first.json_lines()[0]["new"] == 3
        again = cli("ingest", f"{base}/rss/cs.AI", "--source", "arxiv-ai", "--json")
        assert again.json_lines()[0]["not_modified"] is True
        plain = cli("ingest", f"{base}/rss/cs.AI", "--json")  # no source: an unconditional GET
        assert plain.json_lines()[0]["duplicate_snapshot"] is True
    assert "If-None-Match" not in seen[0] and seen[1].get("If-None-Match") == '"v1"'
    assert "If-None-Match" not in seen[2]


def test_unreachable_url_exits_2_with_one_line(cli, no_fetch_waits):
    ran = cli("ingest", "http://127.0.0.1:9/feed.xml")
    assert ran.exit_code == 2
    assert ran.stderr.count("\n") == 1 and "127.0.0.1:9" in ran.stderr


def test_demo_prints_one_line_per_input_at_80_columns(tmp_path):
    """Lines longer than the terminal are left for the terminal to wrap: piped to a file or a
    log, each record stays on one line (rich used to break them at 80 columns)."""
    import subprocess
    import sys
    from pathlib import Path

    digest = Path(sys.executable).with_name("digest")
    ran = subprocess.run([str(digest), "demo", "--folder", str(tmp_path / "demo")], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "COLUMNS": "80"})
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    ingests = [line for line in lines if line.startswith("  ingest ")]
    assert len(ingests) >= 6
    assert all(line.endswith(" unchanged") for line in ingests), ingests
    assert any(len(line) > 80 for line in ingests)  # the case this is about
    assert all(line.startswith(("  ", "Paper Digest", "digests planned")) or "distinct papers" in line for line in lines)
