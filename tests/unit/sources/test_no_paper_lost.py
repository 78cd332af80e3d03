"""No paper with a title and an abstract is lost to a heuristic, in any generated variant of
every fixture layout: the last abstract ending in a link, a parenthesis or a digit; no final
newline; CRLF; NBSP; tabs; trailing spaces; a BOM (see listing_variants)."""

from __future__ import annotations

from datetime import date

import pytest

from digest.sources import hf_api, hf_page, feed, parse_snapshot
from tests.unit.sources.listing_variants import (
    API_FRAMINGS, ENDINGS, FEED_FRAMINGS, FEEDS, HF_API, PAGE_FRAMINGS, PAGES, SAMPLES, api_variant, feed_variant,
    page_variant,
)

TODAY = date(2026, 11, 21)
TERMINAL = tuple(".!?)]}\"'”’")


def _page(name: str) -> tuple[str, list]:
    text = (SAMPLES / "snapshots" / name).read_text(encoding="utf-8")
    return text, hf_page.parse(text.encode(), today=TODAY).papers


@pytest.mark.parametrize("framing", PAGE_FRAMINGS)
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_variant_keeps_every_paper(name, ending, framing):
    text, original = _page(name)
    variant = page_variant(text, original[-1].abstract, ending, framing)
    result = parse_snapshot(variant, input=name, today=TODAY)  # detected, as ingest does
    assert len(result.papers) == PAGES[name]
    assert [p.title for p in result.papers] == [p.title for p in original]
    last = result.papers[-1]
    assert last.abstract == original[-1].abstract + ENDINGS[ending]
    decoded = variant.decode("utf-8-sig")
    ends_mid_line = not any(c in "\r\n" for c in decoded[len(decoded.rstrip()):])  # plain.txt has no final newline
    ends_in_abstract = " ".join(decoded[-300:].split()).endswith(last.abstract[-40:])
    may_be_cut = ends_mid_line and ends_in_abstract and not last.abstract.endswith(TERMINAL)
    flagged = [w for w in result.warnings if "may be cut off" in w]
    assert len(flagged) == may_be_cut, result.warnings
    assert all("skipped" not in w for w in result.warnings)


@pytest.mark.parametrize("framing", FEED_FRAMINGS)
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("path", FEEDS, ids=lambda p: p.name)
def test_every_feed_variant_keeps_every_entry(path, ending, framing):
    original = feed.parse(path.read_bytes()).papers
    result = parse_snapshot(feed_variant(path.read_bytes(), ending, framing), input=path.name)
    assert len(result.papers) == len(original)
    assert [p.title for p in result.papers] == [p.title for p in original]
    if original and ending != "as-saved":
        assert " ".join(result.papers[-1].abstract.split()).endswith(" ".join(ENDINGS[ending].split()))


@pytest.mark.parametrize("framing", API_FRAMINGS)
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("path", HF_API, ids=lambda p: p.name)
def test_every_hf_api_variant_keeps_every_item(path, ending, framing):
    original = hf_api.parse(path.read_bytes()).papers
    result = parse_snapshot(api_variant(path.read_bytes(), ending, framing), input=path.name)
    assert len(result.papers) == len(original)
    assert [p.title for p in result.papers] == [p.title for p in original]
    assert result.papers[-1].abstract.endswith(" ".join(ENDINGS[ending].split()))


def test_page_cut_inside_the_last_abstract_keeps_it_and_says_so():
    text, original = _page("hf-listing-plain.txt")
    cut = text[: text.rindex(original[-1].abstract) + 60]
    result = hf_page.parse(cut.encode(), today=TODAY)
    assert len(result.papers) == 48
    assert result.papers[-1].abstract == original[-1].abstract[:60].rstrip()
    assert len(result.warnings) == 1
    assert "may be cut off" in result.warnings[0] and original[-1].title[:40] in result.warnings[0]


def test_page_cut_inside_the_last_title_drops_only_that_title():
    text, original = _page("hf-listing-plain.txt")
    cut = text[: text.rindex(original[-1].title) + 10]
    result = hf_page.parse(cut.encode(), today=TODAY)
    assert len(result.papers) == 47
    assert "has no abstract" in result.warnings[0]


@pytest.mark.parametrize("word", ["Search", "Next", "Papers", "Previous", "Weekly"])
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_a_paper_titled_like_page_chrome_is_kept(word, position):
    text, original = _page("hf-listing-plain.txt")
    abstract = "We study a question of general interest in depth. " * 4
    block = f"{word}\n\n{abstract.strip()}"
    anchor = {"first": original[0].title, "middle": original[20].title}.get(position)
    text = text.rstrip() + f"\n\n{block}\n" if anchor is None else text.replace(anchor, f"{block}\n\n{anchor}", 1)
    result = hf_page.parse(text.encode(), today=TODAY)
    assert len(result.papers) == 49
    assert [p for p in result.papers if p.title == word][0].abstract == abstract.strip()


def test_a_number_title_after_metadata_is_a_paper_not_an_upvote_count():
    text, original = _page("hf-listing-with-metadata.txt")
    abstract = "A study of the year in question and what followed it, with several results. " * 3
    text = text.replace(original[1].title, f"1984\n\n{abstract.strip()}\n\n{original[1].title}", 1)
    result = hf_page.parse(text.encode(), today=TODAY)
    assert len(result.papers) == 39
    assert result.papers[1].title == "1984" and result.papers[0].upvotes is None


def test_zero_width_and_byte_order_marks_inside_the_page_are_ignored():
    text, original = _page("hf-listing-with-metadata.txt")
    marked = text.replace("\n\n", "\n\n\ufeff", 3).replace("Daily Papers", "Daily\u200b Papers")
    result = hf_page.parse(marked.encode(), today=TODAY)
    assert [(p.title, p.abstract) for p in result.papers] == [(p.title, p.abstract) for p in original]


def test_feed_cut_inside_the_last_entry_keeps_it_and_flags_it(samples):
    data = (samples / "feeds/arxiv-rss-cs-ai.xml").read_bytes()
    cut = data[: data.rindex(b"establishing workflow orchestration")]
    result = feed.parse(cut)
    assert len(result.papers) == 3
    assert any("last entry may be cut off" in w for w in result.warnings)
    assert not any("cut off" in w for w in feed.parse(data).warnings)


def test_feed_repeats_are_kept_for_the_diff_to_merge():
    def item(body: str) -> str:
        return f"<item><title>T</title><description>{body}</description><link>https://arxiv.org/abs/2601.00001v1</link></item>"

    data = f'<rss version="2.0"><channel><title>c</title>{item("")}{item("The full abstract.")}</channel></rss>'
    result = feed.parse(data.encode())
    assert [p.abstract for p in result.papers] == ["", "The full abstract."]
    assert result.warnings == ["entry 2: arXiv:2601.00001 listed again (entry 1); merged"]


def test_hf_api_response_cut_off_keeps_its_complete_items(samples):
    data = (samples / "hf-api/daily-papers-limit30.json").read_bytes()
    whole = hf_api.parse(data).papers
    cut = data[: data.index(whole[12].title.encode()) + 5]
    result = hf_api.parse(cut)
    assert [p.title for p in result.papers] == [p.title for p in whole[:12]]
    assert result.warnings == ["the response is cut off in item 13 (line 1); kept the 12 complete items before it"]
