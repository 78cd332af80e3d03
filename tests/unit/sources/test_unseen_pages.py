"""HF page layouts beyond the three fixtures: metadata lines no fixture has must not become
papers, and the paper after them must not be lost.

The files in tests/data/unseen/ hold four real arXiv papers (July 2026 corpus; titles with a
leading digit, LaTeX, a non-ASCII letter and a question mark, all over 80 characters, so
each one is as long as an abstract may be) laid out the ways other saves lay them out.
"""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from digest.errors import SnapshotError
from digest.sources import hf_page, parse_snapshot

UNSEEN = Path(__file__).resolve().parents[2] / "data" / "unseen"
TODAY = date(2026, 8, 1)
TITLES = [
    "3D HAMSTER: Bridging Planning and Control in Hierarchical Vision Language Action Models through 3D Trajectory Guidance",
    "TerraDiT-$Ω$: Unified Spatial Control for Satellite Image Synthesis with Any Geospatial Primitive",
    "Mapping Text to Multiplex Graph: Prompt Compression as Lévy Walk-Guided Graph Pruning",
    "Calibrating the Evaluator: Does Probability Calibration Mitigate Preference Coupling in LLM Agent Feedback Loops?",
]
ABSTRACT_ENDS = ["thub.io/3D_HAMSTER/.", "b.com/mvrl/TerraDiT.", "science/r/RAGP-B0CB.", "eployment pipelines."]


def parse(name: str):
    return parse_snapshot((UNSEEN / name).read_bytes(), input=name, today=TODAY)


def assert_the_four_papers(result) -> None:
    assert [p.title for p in result.papers] == TITLES
    assert [p.abstract[-20:] for p in result.papers] == ABSTRACT_ENDS


def test_submitted_by_lines_are_not_papers_and_lose_no_paper():
    # Before: "← Previous" and three "Submitted by ..." lines became papers; three real ones were lost.
    result = parse("hf-page-submitted-by-lines.txt")
    assert_the_four_papers(result)
    assert result.warnings == []


def test_an_upvote_count_on_its_own_line_before_a_long_title():
    result = parse("hf-page-upvotes-on-own-line.txt")
    assert_the_four_papers(result)
    assert [(p.author_count, p.published, p.upvotes) for p in result.papers] == [
        (10, date(2026, 7, 14), 10), (5, date(2026, 7, 14), 11), (10, date(2026, 7, 14), 12), (1, date(2026, 7, 14), 13)]


def test_navigation_header_iso_day_organisation_and_one_line_metadata():
    result = parse("hf-page-nav-submitted-one-line-meta.txt")
    assert_the_four_papers(result)
    assert result.listing_day == date(2026, 7, 14)
    second, third = result.papers[1], result.papers[2]
    assert (second.organization, second.published, second.upvotes) == ("Parameter Lab", date(2026, 7, 14), 7)
    assert (third.author_count, third.published, third.upvotes) == (5, date(2026, 7, 14), 3)
    assert result.warnings == []


def test_a_listing_of_titles_without_abstracts_is_refused_not_read_as_papers():
    with pytest.raises(SnapshotError, match=r"hf-page-titles-only.txt: does not look like a Daily Papers listing \(line 13"):
        parse("hf-page-titles-only.txt")


def test_unexplained_lines_are_named_in_a_warning():
    text = (UNSEEN / "hf-page-submitted-by-lines.txt").read_text(encoding="utf-8")
    text = text.replace("Submitted by taesiri", "View 3 comments")
    result = hf_page.parse(text.encode(), today=TODAY)
    assert_the_four_papers(result)
    assert len(result.warnings) == 1 and "'View 3 comments'" in result.warnings[0]



def test_et_al_in_an_author_line_is_not_an_author():
    text = (UNSEEN / "hf-page-upvotes-on-own-line.txt").read_text(encoding="utf-8")
    text = text.replace("  • 10 authors\n", "  • Ann Lee, Jörg Müller, et al.\n", 1)
    first = hf_page.parse(text.encode(), today=TODAY).papers[0]
    assert first.authors == ("Ann Lee", "Jörg Müller")


def test_a_whole_page_copied_with_navigation_and_footer_and_no_final_newline():
    # Before: the footer's last two lines became a paper ("Pricing", abstract "Docs"), the listing day was lost.
    result = parse("hf-page-whole-page-copied.txt")
    assert_the_four_papers(result)
    assert result.listing_day == date(2026, 7, 14) and result.warnings == []


def test_a_page_saved_with_hard_wrapped_lines_reads_like_the_unwrapped_one():
    # Firefox's "Save Page As > Text Files" wraps at 72 columns: before, the page was refused.
    result = parse("hf-page-firefox-wrapped.txt")
    assert_the_four_papers(result)
    assert [(p.author_count, p.upvotes) for p in result.papers] == [(10, 3), (5, 4), (10, 5), (1, 6)]
    assert result.warnings == []


def test_a_compact_list_of_long_titles_is_refused_not_paired_into_papers():
    # Each title is longer than the one before it in places, and over 80 characters: none is an abstract.
    with pytest.raises(SnapshotError, match="does not look like a Daily Papers listing"):
        parse("hf-page-compact-titles-only.txt")


def test_a_wrapped_page_with_a_link_longer_than_the_width_and_few_papers():
    text = (UNSEEN / "hf-page-submitted-by-lines.txt").read_text(encoding="utf-8")
    papers = hf_page.parse(text.encode(), today=TODAY).papers
    link = " Code: https://github.com/example-organisation/a-very-long-repository-name-that-no-wrap-can-break"
    text = text.replace(papers[0].abstract, papers[0].abstract + link)
    wrapped = "\n".join(textwrap.fill(block, width=72, break_long_words=False, break_on_hyphens=False)
                        for block in text.split("\n")[: text.split("\n").index("Submitted by taesiri")])
    result = hf_page.parse(wrapped.encode(), today=TODAY)
    assert [p.title for p in result.papers] == TITLES[:2]
    assert result.papers[0].abstract == papers[0].abstract + link


def test_a_long_author_list_is_authors_not_a_second_abstract_paragraph():
    # Before: a "• " line of 40 names (over 400 characters) was appended to the abstract.
    names = [f"Author{i} Surname{i}" for i in range(40)]
    text = (UNSEEN / "hf-page-upvotes-on-own-line.txt").read_text(encoding="utf-8")
    text = text.replace("  • 10 authors\n", f"  • {', '.join(names)}\n", 1)
    first = hf_page.parse(text.encode(), today=TODAY).papers[0]
    assert first.authors == tuple(names) and first.abstract.endswith(ABSTRACT_ENDS[0])


def test_published_on_lines_give_the_date():
    text = (UNSEEN / "hf-page-submitted-by-lines.txt").read_text(encoding="utf-8")
    text = text.replace("Submitted by akhaliq", "Published on Jul 13, 2026", 1)
    result = hf_page.parse(text.encode(), today=TODAY)
    assert result.papers[0].published == date(2026, 7, 13) and result.warnings == []


@pytest.mark.parametrize("block", ["{title}\nAbstract\n{abstract}\n\n", "{title}\n\nAbstract: {abstract}\n\n",
                                   "{title}\n\nSummary\n\n{abstract}\n\n  • 3 authors\n·\nJul 14, 2026 3\n\n"])
def test_an_abstract_label_is_neither_a_title_nor_part_of_the_abstract(block):
    # Before: "Abstract" alone on a line became each paper's title and the real title was lost.
    papers = hf_page.parse((UNSEEN / "hf-page-submitted-by-lines.txt").read_bytes(), today=TODAY).papers
    text = "Daily Papers\n\n" + "".join(block.format(title=p.title, abstract=p.abstract) for p in papers)
    result = hf_page.parse(text.encode(), today=TODAY)
    assert [(p.title, p.abstract) for p in result.papers] == [(p.title, p.abstract) for p in papers]
    assert result.warnings == []


def test_authors_names_between_each_title_and_its_abstract():
    # Before: each names line became the paper's title and the real title was lost.
    result = parse("hf-page-names-under-titles.txt")
    assert_the_four_papers(result)
    assert [p.authors[:2] for p in result.papers] == [
        ("Dongyoon Hwang", "Byungkun Lee"), ("Brian Wei", "Srikumar Sastry"), ("Yaxin Gao", "Yao Lu"), ("Zewen Liu",)]
    assert len(result.papers[0].authors) == 10 and len(result.papers[2].authors) == 3  # "et al." is no author
    assert result.warnings == []


def test_a_title_with_and_after_an_unexplained_line_is_not_read_as_names():
    text = (UNSEEN / "hf-page-submitted-by-lines.txt").read_text(encoding="utf-8")
    title = "Privacy-Aware Collaborative and Distributed Bayesian Optimization"
    text = text.replace(TITLES[1], title).replace("Submitted by akhaliq", "View 3 comments")
    result = hf_page.parse(text.encode(), today=TODAY)
    assert [p.title for p in result.papers] == [TITLES[0], title, *TITLES[2:]]
