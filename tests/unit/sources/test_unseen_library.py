"""Reference libraries written unlike the shipped ones (tests/data/unseen/): TeX accents and
macros in BibTeX titles and names, "and others", RIS abstracts under N2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.diff import normalize_title
from digest.errors import SnapshotError
from digest.sources import parse_snapshot
from digest.sources.library import _line_numbers, parse_library, tex_text

UNSEEN = Path(__file__).resolve().parents[2] / "data" / "unseen"


def test_bibtex_tex_is_decoded_so_titles_match_the_listings_and_others_is_no_author():
    entries = parse_library((UNSEEN / "library-tex.bib").read_bytes(), name="library-tex.bib").entries
    got = [(e.line, e.paper.title, e.paper.authors) for e in entries]
    assert got == [
        (2, ("3D HAMSTER: Bridging Planning and Control in Hierarchical Vision Language Action Models through 3D "
             "Trajectory Guidance"), ("Jörg Müller",)),
        (8, "Mapping Text to Multiplex Graph: Prompt Compression as Lévy Walk-Guided Graph Pruning",
         ("María García", "Jan Łojek")),
        (15, ("Calibrating the Evaluator: Does Probability Calibration Mitigate Preference Coupling in LLM Agent "
              "Feedback Loops?"), ("Petr Štěpán", "Jane Doe")),
        (20, "Sparse Experts with $\\mathcal{O}(\\log n)$ Routing --- a Study", ("Bob Ray",)),
    ]


def test_math_is_kept_as_written_so_it_matches_an_arxiv_title():
    listed = "$\\text{Log}_\\text{b}$Quant: Quantizing Language Models in Logarithmic Space"
    assert normalize_title(tex_text("{$\\text{Log}_\\text{b}$}{Q}uant: Quantizing Language Models in Logarithmic Space")) \
        == normalize_title(listed)
    assert tex_text("A {$k$}-means and \\$5") == "A $k$-means and $5"


def test_ris_abstract_under_n2_is_read():
    entry = parse_library((UNSEEN / "library-n2.ris").read_bytes(), name="library-n2.ris").entries[0]
    assert entry.paper.abstract == "An abstract that EndNote and Mendeley write under N2, not AB."
    assert entry.paper.authors == ("Petr Stěpán", "Jane Doe")


def test_ris_with_one_space_before_the_tag_dash():
    parsed = parse_library((UNSEEN / "library-single-space.ris").read_bytes(), name="library-single-space.ris")
    got = [(e.line, e.paper.title, e.paper.authors, e.paper.arxiv_id) for e in parsed.entries]
    assert got == [(1, "Mapping Text to Multiplex Graph: Prompt Compression as Lévy Walk-Guided Graph Pruning",
                    ("María García", "Jan Łojek"), "2607.01241"), (9, "A Second Record", ("Bob Ray",), None)]
    assert parse_library((UNSEEN / "library-single-space.ris").read_bytes(), name="-").format == "ris"


def test_zotero_csv_saved_again_by_a_spreadsheet_with_semicolons():
    parsed = parse_library((UNSEEN / "library-semicolon.csv").read_bytes(), name="library-semicolon.csv")
    got = [(e.line, e.paper.title, e.paper.authors, e.paper.arxiv_id, e.paper.doi) for e in parsed.entries]
    assert got == [
        (2, "Mapping Text to Multiplex Graph: Prompt Compression as Lévy Walk-Guided Graph Pruning",
         ("María García", "Jan Łojek"), "2607.01241", None),
        (3, "Layer Normalization Revisited", ("Jane Doe",), None, "10.1145/3580305.3599999"),
    ]
    assert parsed.problems == [] and parsed.entries[0].paper.abstract == "An abstract; with a semicolon."


def test_ris_record_lines_counted_once_agree_with_counting_from_the_start():
    # The plain way counted from the start for every record: 84 s CPU for a 20,000-record export.
    text = "".join(f"TY  - JOUR\nTI  - Title {i}\n" + "AB  - line\n" * (i % 4) + "ER  - \n\n" for i in range(300))
    offsets = [m.start() for m in re.finditer(r"(?m)^TY  -", text)]
    assert _line_numbers(text, offsets) == [text.count("\n", 0, offset) + 1 for offset in offsets]
    assert [e.line for e in parse_library(text.encode(), name="x.ris").entries][:3] == [1, 5, 10]


@pytest.mark.parametrize("name", ["library-tex.bib", "library-n2.ris", "library-single-space.ris", "library-semicolon.csv"])
def test_a_library_given_to_ingest_is_named_as_one(name):
    with pytest.raises(SnapshotError, match=rf"^{re.escape(name)}: a reference library .* `digest subscribers import-library EMAIL FILE`$"):
        parse_snapshot((UNSEEN / name).read_bytes(), input=name)
