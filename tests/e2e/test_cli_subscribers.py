"""`digest subscribers` and `digest stats` through the real command, every error included."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from digest.store.db import open_engine
from digest.store.tables import deliveries, subscribers

QUERY = '"token pooling" OR normalization -medical'


def count_rows(database_url, table) -> int:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return count


def one_error_line(ran) -> str:
    assert ran.exit_code == 1, (ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    return lines[0]


def test_add_show_and_list(cli):
    added = cli("subscribers", "add", "Ada@Example.ORG", "--name", "Ada", "--keywords", QUERY,
                "--timezone", "Europe/London", "--hour", "8", "--max-papers", "5", "--json")
    assert added.exit_code == 0, added.stderr
    row = added.json()
    assert row["email"] == "Ada@example.org" and row["status"] == "pending"
    assert (row["interests"], row["timezone"], row["send_hour"], row["max_papers"]) == (QUERY, "Europe/London", 8, 5)
    assert len(row["feed_token"]) >= 24
    shown = cli("subscribers", "show", "ada@EXAMPLE.org", "--json").json()
    assert shown["id"] == row["id"]
    cli("subscribers", "add", "bob@example.org", "--confirmed", "--frequency", "weekly", "--weekday", "friday")
    listed = cli("subscribers", "list", "--json").json()
    assert [s["email"] for s in listed] == ["Ada@example.org", "bob@example.org"]
    assert cli("subscribers", "list", "--json", "--status", "active").json()[0]["weekday"] == "friday"
    assert [s["email"] for s in cli("subscribers", "list", "--json", "--search", "pooling").json()] == ["Ada@example.org"]
    table = cli("subscribers", "list")
    assert table.exit_code == 0 and "bob@example.org" in table.stdout


def test_pending_subscriber_gets_a_confirmation_queued(cli, database_url):
    cli("subscribers", "add", "ada@example.org")
    cli("subscribers", "add", "bob@example.org", "--confirmed")
    assert count_rows(database_url, deliveries) == 1


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--hour", "24"], "send hour"),
        (["--timezone", "Mars/Olympus_Mons"], "unknown time zone 'Mars/Olympus_Mons'"),
        (["--keywords", '"token pooling OR x'], "position 0"),
        (["--keywords", "pooling OR"], "position"),
        (["--keywords", "foo:bar"], "position 0"),
        (["--frequency", "hourly"], "frequency"),
        (["--weekday", "someday"], "weekday"),
        (["--max-papers", "0"], "max papers"),
    ],
)
def test_bad_values_are_refused_with_one_line_and_nothing_stored(cli, database_url, args, expected):
    line = one_error_line(cli("subscribers", "add", "ada@example.org", *args))
    assert expected in line
    assert count_rows(database_url, subscribers) == 0


def test_invalid_address_and_duplicate_in_another_case(cli, database_url):
    assert "invalid email" in one_error_line(cli("subscribers", "add", "ada@"))
    assert "invalid email" in one_error_line(cli("subscribers", "add", "no-at-sign.example.org"))
    cli("subscribers", "add", "ada@example.org")
    assert "already subscribed" in one_error_line(cli("subscribers", "add", "ADA@Example.org"))
    assert count_rows(database_url, subscribers) == 1


def test_update_pause_resume_confirm(cli):
    cli("subscribers", "add", "ada@example.org")
    updated = cli("subscribers", "update", "ada@example.org", "--keywords", "pooling, data filtering",
                  "--frequency", "weekly", "--weekday", "wed", "--json").json()
    assert (updated["interests"], updated["frequency"], updated["weekday"]) == ("pooling, data filtering", "weekly", "wednesday")
    assert cli("subscribers", "confirm", "ada@example.org", "--json").json()["status"] == "active"
    paused = cli("subscribers", "pause", "ada@example.org", "--json").json()
    assert paused["status"] == "paused"
    assert cli("subscribers", "resume", "ada@example.org", "--json").json()["status"] == "active"
    assert "position" in one_error_line(cli("subscribers", "update", "ada@example.org", "--keywords", "(unbalanced"))
    assert cli("subscribers", "show", "ada@example.org", "--json").json()["interests"] == "pooling, data filtering"
    assert "nothing to change" in one_error_line(cli("subscribers", "update", "ada@example.org"))
    assert "no subscriber" in one_error_line(cli("subscribers", "pause", "nobody@example.org"))


def test_status_commands_follow_the_one_transition_table(cli, database_url):
    """Issue 15: the CLI used to set any status unchecked (`resume` made an unsubscribed
    person active again). Now it obeys the same table as the web."""
    cli("subscribers", "add", "ada@example.org")  # pending
    assert "not confirmed yet" in one_error_line(cli("subscribers", "pause", "ada@example.org"))
    assert cli("subscribers", "confirm", "ada@example.org", "--json").json()["status"] == "active"
    assert cli("subscribers", "unsubscribe", "ada@example.org", "--json").json()["status"] == "unsubscribed"
    assert "no change for ada@example.org (unsubscribed)" in cli("subscribers", "unsubscribe", "ada@example.org").stdout
    assert "cannot confirm" in one_error_line(cli("subscribers", "confirm", "ada@example.org"))
    assert "cannot make" in one_error_line(cli("subscribers", "update", "ada@example.org", "--status", "active"))
    before = count_rows(database_url, deliveries)
    resumed = cli("subscribers", "resume", "ada@example.org")
    assert resumed.exit_code == 0 and "pending: a confirmation email is queued" in resumed.stdout
    assert count_rows(database_url, deliveries) == before + 1
    old = cli("subscribers", "show", "ada@example.org", "--json").json()
    rotated = cli("subscribers", "rotate-links", "ada@example.org", "--json")
    assert rotated.exit_code == 0 and rotated.json()["email"] == old["email"]


def test_an_export_opened_in_a_spreadsheet_runs_no_formula_and_imports_back(cli, tmp_path, monkeypatch):
    """Issue 15 item 4: `=HYPERLINK(...)`, `+...`, `-2+3` from sign-ups reached CSV exports raw."""
    for number, query in enumerate(["-2+3", "+pooling", "-medical pooling", "@SUM OR pooling"]):
        cli("subscribers", "add", f"user{number}@example.org", "--keywords", query, "--confirmed")
    cli("subscribers", "add", "=1+2@example.org", "--name", "=HYPERLINK(evil)", "--confirmed")
    text = cli("subscribers", "export").stdout
    for row in csv.reader(io.StringIO(text, newline="")):
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row), row
    exported = tmp_path / "people.csv"
    exported.write_text(text, newline="")
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert cli("subscribers", "import", str(exported), "--apply").exit_code == 0
    assert cli("subscribers", "export").stdout == text
    assert cli("subscribers", "show", "=1+2@example.org", "--json").json()["name"] == "=HYPERLINK(evil)"


def test_changing_the_address_to_an_existing_one_is_refused(cli):
    cli("subscribers", "add", "ada@example.org")
    cli("subscribers", "add", "bob@example.org")
    assert "already subscribed" in one_error_line(cli("subscribers", "update", "bob@example.org", "--email", "ADA@example.org"))


def test_remove_asks_unless_yes_and_deletes_all_data(cli, database_url):
    cli("subscribers", "add", "ada@example.org")
    declined = cli("subscribers", "remove", "ada@example.org", input="n\n")
    assert declined.exit_code == 1 and count_rows(database_url, subscribers) == 1
    accepted = cli("subscribers", "remove", "ada@example.org", input="y\n")
    assert accepted.exit_code == 0
    assert count_rows(database_url, subscribers) == 0 and count_rows(database_url, deliveries) == 0
    cli("subscribers", "add", "bob@example.org")
    assert cli("subscribers", "remove", "bob@example.org", "--yes").exit_code == 0
    assert "no subscriber" in one_error_line(cli("subscribers", "remove", "bob@example.org", "--yes"))


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["email", "name", "interests", "timezone", "send_hour"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_import_of_a_thousand_rows_with_two_bad_ones_writes_nothing(cli, database_url, tmp_path):
    rows = [{"email": f"user{i}@example.org", "name": f"User {i}", "interests": "pooling, data filtering",
             "timezone": "Asia/Tokyo", "send_hour": str(i % 24)} for i in range(1000)]
    rows[99]["email"] = "not-an-address"
    rows[499]["send_hour"] = "24"
    path = tmp_path / "people.csv"
    path.write_text(_csv(rows))
    dry = cli("subscribers", "import", str(path), "--json")
    assert dry.exit_code == 1
    report = dry.json()
    assert report["create"] == 998 and report["applied"] is False
    assert [e["line"] for e in report["errors"]] == [101, 501]
    assert count_rows(database_url, subscribers) == 0
    applied = cli("subscribers", "import", str(path), "--apply")
    assert applied.exit_code == 1
    assert "line 101" in applied.stderr and "line 501" in applied.stderr and "nothing written" in applied.stderr
    assert count_rows(database_url, subscribers) == 0
    rows[99]["email"], rows[499]["send_hour"] = "fixed@example.org", "23"
    path.write_text(_csv(rows))
    assert cli("subscribers", "import", str(path)).exit_code == 0
    assert count_rows(database_url, subscribers) == 0
    done = cli("subscribers", "import", str(path), "--apply", "--json")
    assert done.exit_code == 0 and done.json()["create"] == 1000
    assert count_rows(database_url, subscribers) == 1000
    again = cli("subscribers", "import", str(path), "--json").json()
    assert (again["create"], again["update"], again["unchanged"]) == (0, 0, 1000)


def test_import_reports_duplicates_and_unknown_columns(cli, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("email,colour\na@example.org,red\n")
    assert "unknown column" in cli("subscribers", "import", str(path)).stderr
    path.write_text("email\na@example.org\nA@EXAMPLE.org\n")
    ran = cli("subscribers", "import", str(path), "--json")
    assert ran.json()["errors"] == [{"line": 3, "error": "A@example.org already appears on line 2"}]
    path.write_text("name\nAda\n")
    assert "no 'email' column" in one_error_line(cli("subscribers", "import", str(path)))


@pytest.mark.parametrize("format", ["csv", "json"])
def test_export_then_import_into_an_empty_database_reproduces_the_subscribers(cli, tmp_path, monkeypatch, format):
    cli("subscribers", "add", "ada@example.org", "--name", "Ada, Countess", "--keywords", QUERY, "--confirmed",
        "--timezone", "Europe/London", "--hour", "8", "--min-score", "1.5", "--send-empty")
    cli("subscribers", "add", "bob@example.org", "--frequency", "weekly", "--weekday", "sun", "--max-papers", "3")
    cli("subscribers", "add", "zoë@example.org", "--name", "Zoë \"Z\" Ng", "--keywords", "author:ruff")
    cli("subscribers", "pause", "bob@example.org")
    exported = tmp_path / f"subscribers.{format}"
    assert cli("subscribers", "export", "--format", format, "-o", str(exported)).exit_code == 0
    before = cli("subscribers", "export", "--format", format).stdout
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert cli("subscribers", "import", str(exported), "--apply").exit_code == 0
    assert cli("subscribers", "export", "--format", format).stdout == before


def test_stats(cli, samples):
    cli("ingest", str(samples / "snapshots" / "hf-listing-plain.txt"))
    cli("subscribers", "add", "ada@example.org", "--confirmed")
    cli("subscribers", "add", "bob@example.org")
    figures = cli("stats", "--json").json()
    assert (figures["papers"], figures["snapshots"]) == (48, 1)
    assert figures["subscribers"] == {"pending": 1, "active": 1, "paused": 0, "unsubscribed": 0, "bounced": 0}
    assert figures["papers_per_listing_day"][0]["papers"] == 48
    human = cli("stats")
    assert human.exit_code == 0 and "48 papers" in human.stdout and "█" in human.stdout


def test_every_subscribers_command_has_help_with_an_example(cli):
    for command in ("add", "list", "show", "update", "pause", "resume", "confirm", "unsubscribe", "rotate-links",
                    "remove", "import", "export"):
        ran = cli("subscribers", command, "--help")
        assert ran.exit_code == 0 and "Example" in ran.stdout, command
    assert "Example" in cli("stats", "--help").stdout
