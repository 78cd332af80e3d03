"""Control characters in an imported subscriber file: a line-numbered error, nothing written,
on SQLite and on PostgreSQL (which refuses NUL in text: it was a database error, exit 2)."""

from __future__ import annotations

import pytest

HEADER = "email,name,status,interests,timezone,send_hour,max_papers\n"


@pytest.mark.parametrize("interests", ["po\x00ol", "pool\x1bing", "pool\x7f"])
def test_a_control_character_in_interests_is_a_line_numbered_error_and_nothing_is_written(cli, tmp_path, interests):
    people = tmp_path / "people.csv"
    people.write_text(HEADER + "ok@example.org,Ok,active,pooling,UTC,8,10\n"
                      f"bad@example.org,Bad,active,{interests},UTC,8,10\n", encoding="utf-8")
    ran = cli("subscribers", "import", str(people), "--apply")
    assert ran.exit_code == 1, (ran.stdout, ran.stderr)
    assert "line 3" in ran.stderr and "control character" in ran.stderr
    assert cli("subscribers", "list", "--json").json() == []


def test_tabs_and_a_name_with_a_nul_are_still_fine(cli, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text(HEADER + "ok@example.org,O\x00k,active,\"pooling\tnormalization\",UTC,8,10\n", encoding="utf-8")
    ran = cli("subscribers", "import", str(people), "--apply")
    assert ran.exit_code == 0, ran.stderr
    [row] = cli("subscribers", "list", "--json").json()
    assert row["email"] == "ok@example.org" and row["name"] == "O k"
