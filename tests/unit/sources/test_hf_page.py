"""The saved HF Daily Papers page: every layout, the chrome, and hostile text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import SnapshotError
from digest.sources import hf_page

TODAY = date(2026, 11, 21)
CHROME_WORDS = ("Subscribe", "Daily Papers", "Get trending", "byAK", "new")


def parse(data: bytes, **kwargs):
    return hf_page.parse(data, today=TODAY, **kwargs)


@pytest.fixture(scope="module")
def layouts(samples):
    folder = samples / "snapshots"
    return {name: (folder / f"hf-listing-{name}.txt").read_bytes() for name in ("compact", "with-metadata", "plain")}


@pytest.mark.parametrize("name,count", [("compact", 119), ("with-metadata", 38), ("plain", 48)])
def test_each_layout_yields_every_paper(layouts, name, count):
    result = parse(layouts[name], strict=True)
    assert len(result.papers) == count
    assert result.warnings == []
    for paper in result.papers:
        assert paper.title and len(paper.abstract) > 200
        assert not paper.title.startswith(CHROME_WORDS)


def test_title_glued_to_subscribe_is_unglued(layouts):
    first = parse(layouts["compact"]).papers[0]
    assert first.title == "Order Theory in the Context of Machine Learning"
    assert first.abstract.startswith("The paper ``Tropical Geometry of Deep Neural Networks''")


def test_listing_day_from_header_takes_latest_year_not_after_today(layouts):
    assert parse(layouts["with-metadata"]).listing_day == date(2026, 2, 11)
    assert parse(layouts["plain"]).listing_day == date(2026, 9, 25)
    assert hf_page.parse(layouts["plain"], today=date(2026, 3, 1)).listing_day == date(2025, 9, 25)
    assert parse(layouts["compact"]).listing_day is None


def test_metadata_lines_give_counts_dates_upvotes_and_organisations(layouts):
    papers = {p.title: p for p in parse(layouts["with-metadata"]).papers}
    order = papers["Order Theory in the Context of Machine Learning"]
    assert (order.author_count, order.published, order.upvotes, order.organization) == (5, date(2024, 12, 8), None, None)
    concept = papers["Concept-Aware Batch Sampling Improves Language-Image Pretraining"]
    assert (concept.organization, concept.published, concept.upvotes) == ("Bethgelab", date(2025, 11, 25), 2)
    assert concept.author_count is None
    drllm = papers["Dr.LLM: Dynamic Layer Routing in LLMs"]
    assert (drllm.organization, drllm.upvotes) == ("Parameter Lab", 2)
    assert all(p.published is not None for p in papers.values())
    assert sum(1 for p in papers.values() if p.upvotes) == 8


def test_line_endings_bom_and_stray_spaces_change_nothing(layouts):
    original = parse(layouts["with-metadata"]).papers
    text = layouts["with-metadata"].decode()
    variants = [
        text.replace("\n", "\r\n").encode(),
        b"\xef\xbb\xbf" + text.encode(),
        "\n".join("   " + line + "  \t" for line in text.split("\n")).encode(),
        text.replace("\n\n", "\n\n\n\n").encode(),
    ]
    for variant in variants:
        assert parse(variant).papers == original


def test_compact_and_blank_separated_layouts_agree(layouts):
    compact = parse(layouts["compact"]).papers
    spaced = "\n\n".join(layouts["compact"].decode().splitlines()).encode()
    assert [(p.title, p.abstract) for p in parse(spaced).papers] == [(p.title, p.abstract) for p in compact]


def test_cut_off_last_paper_is_kept_with_a_warning(layouts):
    text = layouts["plain"].decode()
    last_abstract_start = text.rindex("Deep neural networks (DNNs) trained for image denoising")
    cut = text[: last_abstract_start + 60].encode()
    result = parse(cut)
    assert len(result.papers) == 48
    assert result.papers[-1].abstract == "Deep neural networks (DNNs) trained for image denoising are"
    assert "Generalization in diffusion models" in result.warnings[0]
    assert "may be cut off" in result.warnings[0]


def test_trailing_title_without_abstract_is_dropped_with_a_warning(layouts):
    result = parse(layouts["plain"] + b"\nA Title With No Abstract Yet\n")
    assert len(result.papers) == 48
    assert "A Title With No Abstract Yet" in result.warnings[0]


def test_header_without_papers_is_an_empty_listing():
    result = parse(b"new\n\nDaily Papers\n\nbyAK and the research community\n\nSep 27\n")
    assert result.papers == [] and result.listing_day == date(2026, 9, 27)


def test_full_month_names_and_dates_without_year():
    text = (
        "Daily Papers\n\nMarch 3, 2026\n\nA Paper Title\n\n" + "An abstract sentence. " * 10 + "\n\n"
        "• 3 authors\n·\nFeb 28 5\n"
    ).encode()
    result = parse(text)
    assert result.listing_day == date(2026, 3, 3)
    paper = result.papers[0]
    assert (paper.author_count, paper.published, paper.upvotes) == (3, date(2026, 2, 28), 5)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty input"),
        (b"  \n\n \t\n", "empty input"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"\xff\xfe\xfa\xfb not utf-8", "not UTF-8"),
    ],
)
def test_unreadable_bytes_are_refused(data, message):
    with pytest.raises(SnapshotError, match=message):
        parse(data)


def test_a_windows_1252_page_is_refused_naming_the_line_the_byte_and_the_fix():
    page = "Daily Papers\nA title\nby Jos\u00e9 Garc\u00eda\n".encode("cp1252")
    with pytest.raises(SnapshotError) as caught:
        parse(page)
    assert caught.value.line == 3
    assert str(caught.value) == ("line 3: not UTF-8 text (byte 0xE9 at column 7): save it as UTF-8, "
                                 "e.g. `iconv -f WINDOWS-1252 -t UTF-8`")


def test_another_sites_text_is_refused_when_detecting():
    wiki = ("Python (programming language)\nFrom Wikipedia, the free encyclopedia\n" + "Python is a language. " * 40).encode()
    with pytest.raises(SnapshotError, match="not a Hugging Face Daily Papers page"):
        parse(wiki, strict=True)


def test_prose_is_refused_even_when_forced():
    prose = "\n".join(["Short line", "another short line"] * 20).encode()
    with pytest.raises(SnapshotError, match="does not look like a Daily Papers listing"):
        parse(prose)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_crashes(text):
    try:
        result = parse(text.encode("utf-8", "surrogatepass"))
    except SnapshotError:
        return
    assert all(paper.title for paper in result.papers)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Daily Papers", "Subscribe", "·", "• 4 authors", "Dec 2, 2024 2", "", "Sep 25",
                                 "A Title", "An abstract " * 12, "org Org", "12", "SubscribeX"]), max_size=40))
def test_listing_shaped_noise_never_crashes(lines):
    try:
        result = parse("\n".join(lines).encode())
    except SnapshotError:
        return
    assert all(paper.title and paper.title not in ("Daily Papers", "Subscribe") for paper in result.papers)
