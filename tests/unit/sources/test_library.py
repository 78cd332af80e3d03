"""Reference libraries (BibTeX, RIS, Zotero CSV) become liked papers; bad entries are named by line."""

from __future__ import annotations

import pytest

from digest.errors import SnapshotError
from digest.sources.library import LibraryFormat, parse_library

LIBRARY = {"zotero.bib": LibraryFormat.BIBTEX, "export.ris": LibraryFormat.RIS, "zotero.csv": LibraryFormat.ZOTERO_CSV}


@pytest.fixture
def read(data_dir):
    return lambda name: (data_dir / "library" / name).read_bytes()


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_format_yields_the_arxiv_paper_with_its_abstract_and_the_doi_paper(read, name):
    parsed = parse_library(read(name), name=name)
    assert parsed.format == LIBRARY[name]
    first, second = parsed.entries[0].paper, parsed.entries[1].paper
    assert first.arxiv_id == "2607.01234"  # versionless, wherever the manager put it
    assert first.title == "Token Pooling for Efficient Vision Transformers"
    assert first.abstract == "We pool tokens to make vision transformers cheaper."
    assert first.authors == ("Lukas Ruff", "Jane Doe")
    assert first.links["abs"] == "https://arxiv.org/abs/2607.01234"
    assert (second.doi, second.title) == ("10.1145/3580305.3599999", "Layer Normalization Revisited")


@pytest.mark.parametrize("name, lines", [("zotero.bib", [18, 25]), ("export.ris", [15]), ("zotero.csv", [4])])
def test_bad_entries_are_reported_by_the_line_they_start_on(read, name, lines):
    parsed = parse_library(read(name), name=name)
    assert [problem.line for problem in parsed.problems] == lines
    assert all(str(problem).startswith(f"line {problem.line}: ") for problem in parsed.problems)


def test_arxiv_id_in_a_bibtex_journal_field_is_found(read):
    entries = parse_library(read("zotero.bib"), name="zotero.bib").entries
    assert [e.paper.arxiv_id for e in entries] == ["2607.01234", None, "2605.04321"]
    assert [e.line for e in entries] == [2, 11, 20]


def test_format_is_detected_without_an_extension(read):
    assert parse_library(read("export.ris"), name="-").format == LibraryFormat.RIS
    assert parse_library(read("zotero.bib"), name="-").format == LibraryFormat.BIBTEX


@pytest.mark.parametrize("data, message", [
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (b"just some prose, not a library\n", "not a reference library"),
    (b"@comment{nothing here}\n", "no entries"),
])
def test_input_that_is_no_library_is_one_line_naming_the_file(data, message):
    with pytest.raises(SnapshotError) as caught:
        parse_library(data, name="mine.txt")
    assert str(caught.value).startswith("mine.txt: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)
