"""`digest subscribers` with odd but valid input, bad input, and scripts reading --json: every
refusal is one line on stderr, exit 1, and writes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from digest.store.db import open_engine
from digest.store.tables import deliveries, subscribers


def _counts(database_url) -> tuple[int, int]:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        counted = tuple(conn.execute(select(func.count()).select_from(table)).scalar_one()
                        for table in (subscribers, deliveries))
    engine.dispose()
    return counted


def _refused(ran) -> str:
    assert ran.exit_code == 1, (ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and not ran.stdout, ran.stderr
    return lines[0]


@pytest.mark.parametrize("address, stored", [
    ("Ada+Digest@Example.ORG", "Ada+Digest@example.org"),  # plus tag kept, domain lower-cased
    ("user@münchen.de", "user@xn--mnchen-3ya.de"),  # stored as SMTP sends it (the envelope is ASCII)
    ("x@straße.de", "x@xn--strae-oqa.de"),  # IDNA 2008: not strasse.de, someone else's domain
    ("o'brien@example.org", "o'brien@example.org"),
    ("  spaced@example.org ", "spaced@example.org"),
])
def test_odd_but_valid_addresses_are_stored(cli, address, stored):
    added = cli("subscribers", "add", address, "--confirmed", "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["email"] == stored


@pytest.mark.parametrize("first, again", [
    ("Ada+Digest@example.org", "ada+digest@EXAMPLE.ORG"),
    ("user@münchen.de", "USER@MÜNCHEN.DE"),
    ("user@münchen.de", "user@xn--mnchen-3ya.de"),  # the same domain in punycode
    ("user@xn--mnchen-3ya.de", "User@München.de"),
])
def test_the_same_address_in_another_case_or_idn_form_is_a_duplicate(cli, database_url, first, again):
    assert cli("subscribers", "add", first, "--confirmed").exit_code == 0
    assert "already subscribed" in _refused(cli("subscribers", "add", again))
    assert _counts(database_url) == (1, 0)


@pytest.mark.parametrize("address, says", [
    ("not an address", "@-sign"),
    ("a@b", "a@b"),
    ('"john doe"@example.org', "Quoting"),  # valid by RFC 5322, refused by design: relays and links mangle it
    ("jörg@example.org", "before the @-sign"),
    ("a..b@example.org", "two periods"),
    ("", "invalid email"),
])
def test_invalid_addresses_are_one_line_and_write_nothing(cli, database_url, address, says):
    assert says in _refused(cli("subscribers", "add", address))
    assert _counts(database_url) == (0, 0)


@pytest.mark.parametrize("keywords", ["", "-medical", '-"medical imaging" -survey', "pooling, data filtering, -medical"])
def test_keywords_edge_cases_that_are_valid(cli, keywords):
    added = cli("subscribers", "add", "ada@example.org", "--keywords", keywords, "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json()["interests"] == keywords


@pytest.mark.parametrize("keywords, says", [
    ('"token pooling', "unbalanced quote"),
    ("title:", "title:"),
    ("pooling AND", "AND"),
    ("pooling " * 200, "at most 1000 characters"),
])
def test_bad_keywords_are_one_line_and_write_nothing(cli, database_url, keywords, says):
    assert says in _refused(cli("subscribers", "add", "ada@example.org", "--keywords", keywords))
    assert _counts(database_url) == (0, 0)


@pytest.mark.parametrize("zone, suggestion", [
    ("Europe/Londn", "did you mean Europe/London?"),
    ("europe/london", "did you mean Europe/London?"),
    ("Kathmandu", "did you mean Asia/Kathmandu?"),
    ("St Johns", "did you mean America/St_Johns?"),
    ("Pacific/chatham", "did you mean Pacific/Chatham?"),
    ("Mars/Olympus_Mons", "use an IANA name such as Europe/Berlin"),
])
def test_an_unknown_time_zone_is_refused_with_a_suggestion(cli, database_url, zone, suggestion):
    line = _refused(cli("subscribers", "add", "ada@example.org", "--timezone", zone))
    assert f"unknown time zone {zone!r}" in line and suggestion in line
    assert _counts(database_url) == (0, 0)


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe", "America/St_Johns"])
@pytest.mark.parametrize("hour", ["0", "23"])
def test_odd_zones_at_the_first_and_last_hour(cli, zone, hour):
    added = cli("subscribers", "add", "ada@example.org", "--timezone", zone, "--hour", hour, "--json")
    assert added.exit_code == 0, added.stderr
    assert (added.json()["timezone"], added.json()["send_hour"]) == (zone, int(hour))


@pytest.mark.parametrize("args, says", [
    (["--hour", "24"], "send hour"),
    (["--hour", "-1"], "send hour"),
    (["--frequency", "hourly"], "frequency"),
    (["--frequency", "weekly", "--weekday", "funday"], "weekday"),
    (["--weekday", "fri"], "--frequency weekly"),  # was accepted, and the day silently dropped
    (["--frequency", "daily", "--weekday", "fri"], "--frequency weekly"),
])
def test_bad_schedule_options_are_one_line_and_write_nothing(cli, database_url, args, says):
    assert says in _refused(cli("subscribers", "add", "ada@example.org", *args))
    assert _counts(database_url) == (0, 0)


def test_update_weekday_of_a_daily_subscriber_says_to_make_them_weekly(cli):
    cli("subscribers", "add", "ada@example.org", "--confirmed")
    assert "--frequency weekly" in _refused(cli("subscribers", "update", "ada@example.org", "--weekday", "fri"))
    assert cli("subscribers", "show", "ada@example.org", "--json").json()["frequency"] == "daily"
    weekly = cli("subscribers", "update", "ada@example.org", "--weekday", "fri", "--frequency", "weekly", "--json")
    assert weekly.json()["weekday"] == "friday"
    assert cli("subscribers", "update", "ada@example.org", "--weekday", "mon", "--json").json()["weekday"] == "monday"


def test_update_of_nothing_and_unknown_addresses(cli, database_url):
    cli("subscribers", "add", "ada@example.org", "--confirmed")
    assert "nothing to change" in _refused(cli("subscribers", "update", "ada@example.org"))
    for args in (["update", "nobody@example.org", "--hour", "3"], ["remove", "nobody@example.org", "--yes"],
                 ["remove", "nobody@example.org", "--yes", "--json"], ["show", "nobody@example.org", "--json"],
                 ["pause", "nobody@example.org"]):
        assert "no subscriber 'nobody@example.org'" in _refused(cli("subscribers", *args))
    assert _counts(database_url) == (1, 0)


def test_json_outputs_parse_and_keep_their_keys(cli):
    added = cli("subscribers", "add", "ada@example.org", "--confirmed", "--json").json()
    keys = list(added)
    assert keys[:3] == ["email", "name", "status"] and "feed_token" in keys and "id" in keys
    assert list(cli("subscribers", "show", "ADA@example.org", "--json").json()) == keys
    assert [list(row) for row in cli("subscribers", "list", "--json").json()] == [keys]
    assert list(cli("subscribers", "update", "ada@example.org", "--hour", "0", "--json").json()) == keys
    assert list(cli("subscribers", "pause", "ada@example.org", "--json").json()) == keys
    assert cli("subscribers", "remove", "ada@example.org", "--yes", "--json").json() == {"removed": "ada@example.org"}
    assert json.loads(cli("subscribers", "list", "--json").stdout) == []


def test_a_subscriber_with_an_idn_domain_gets_their_digest(cli, samples, mail_env, database_url):
    # accepted, then every digest failed: "recipient address cannot be sent over SMTP: 'user@münchen.de'"
    assert cli("ingest", str(samples / "snapshots" / "hf-listing-plain.txt")).exit_code == 0
    for address in ("user@münchen.de", "x@straße.de"):
        assert cli("subscribers", "add", address, "--confirmed").exit_code == 0
    ran = cli("run", "--now", "--json")
    assert (ran.exit_code, ran.json()["sent"], ran.json()["failed"]) == (0, 2, 0), ran.stdout
    assert sorted(m.rcpt_tos[0] for m in mail_env.handler.messages) == ["user@xn--mnchen-3ya.de", "x@xn--strae-oqa.de"]
    assert cli("subscribers", "show", "USER@MÜNCHEN.DE", "--json").json()["email"] == "user@xn--mnchen-3ya.de"


def _stored_before_the_fix(database_url, address: str) -> None:
    """A row as `subscribers add` stored an IDN address before 8ddc89a: its domain in Unicode."""
    engine = open_engine(database_url)
    with engine.begin() as conn:
        conn.execute(subscribers.update().values(email=address, email_key=address.casefold()))
    engine.dispose()


def test_a_row_stored_with_a_unicode_domain_still_gets_digests(cli, samples, mail_env, database_url):
    assert cli("ingest", str(samples / "snapshots" / "hf-listing-plain.txt")).exit_code == 0
    assert cli("subscribers", "add", "user@example.org", "--confirmed").exit_code == 0
    _stored_before_the_fix(database_url, "user@münchen.de")
    assert cli("run", "--now", "--json").json()["sent"] == 1


def test_update_email_to_itself_stores_an_old_unicode_row_in_ascii(cli, database_url):
    assert cli("subscribers", "add", "user@example.org", "--confirmed").exit_code == 0
    _stored_before_the_fix(database_url, "user@münchen.de")
    updated = cli("subscribers", "update", "user@münchen.de", "--email", "user@münchen.de", "--json")
    assert updated.exit_code == 0, updated.stderr
    assert updated.json()["email"] == "user@xn--mnchen-3ya.de"


@pytest.mark.parametrize("name", ["[/]", "[bold red]Evil", "[link=https://evil.example]click[/link]"])
def test_names_are_shown_as_written_never_as_terminal_markup(cli, monkeypatch, name):
    # a name with "[/]" crashed `list` and `show` with a traceback (Rich markup); others were restyled
    monkeypatch.setenv("COLUMNS", "200")  # the table unwrapped
    assert cli("subscribers", "add", "ada@example.org", "--name", name, "--confirmed").exit_code == 0
    for args in (["list"], ["show", "ada@example.org"]):
        shown = cli("subscribers", *args)
        assert shown.exit_code == 0 and name in shown.stdout, shown.stdout


def test_plain_output_of_a_long_address_stays_on_one_line(cli):
    address = "a" * 50 + "@" + "b" * 20 + ".example.org"
    added = cli("subscribers", "add", address)
    assert added.stdout == f"added (pending: a confirmation email is queued) {address} (pending)\n"
    assert cli("subscribers", "remove", address, "--yes").stdout == f"removed {address} and their data\n"
