"""HF API responses and JSON paper dumps shaped unlike the shipped fixtures (tests/data/unseen/):
null and missing fields, items without a "paper" object, ids as URLs, upvotes as strings,
JSON Lines, many repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.errors import SnapshotError
from digest.sources import hf_api, hf_page, parse_snapshot

UNSEEN = Path(__file__).resolve().parents[2] / "data" / "unseen"


def test_odd_fields_keep_every_item_with_its_id_authors_and_upvotes(samples):
    original = hf_api.parse((samples / "hf-api/daily-papers-5-pretty.json").read_bytes()).papers
    result = parse_snapshot((UNSEEN / "hf-api-odd-fields.json").read_bytes(), input="odd.json")
    papers = result.papers
    assert result.warnings == []
    assert [p.title for p in papers] == [p.title for p in original]
    assert [p.arxiv_id for p in papers] == [p.arxiv_id for p in original]
    assert papers[0].authors == ()  # "authors": null
    assert papers[1].authors == original[1].authors and papers[1].upvotes == original[1].upvotes  # no "paper"
    assert papers[2].upvotes == original[2].upvotes + 7  # "24" as a string; the id a versioned URL
    assert papers[4].authors == original[4].authors  # a name only under "user", and a null entry


def test_one_paper_object_is_one_paper():
    paper = {"id": "2607.23193", "title": "OmniScope", "summary": "An abstract.", "authors": [{"name": "Jinsen Su"}],
             "upvotes": 3, "publishedAt": "2026-07-28T00:00:00.000Z"}
    result = parse_snapshot(json.dumps(paper).encode(), input="paper.json")
    assert [(p.arxiv_id, p.title, p.authors, p.upvotes) for p in result.papers] == [
        ("2607.23193", "OmniScope", ("Jinsen Su",), 3)]


def test_json_lines_dump_of_arxiv_listings():
    lines = (UNSEEN / "arxiv-listing-extract.jsonl").read_text(encoding="utf-8").splitlines()
    rows = {}
    for line in lines:
        row = json.loads(line)
        rows.setdefault(row["id"], row)
    result = parse_snapshot((UNSEEN / "arxiv-listing-extract.jsonl").read_bytes(), input="listing.jsonl")
    assert len(result.papers) == len(lines) == 17
    assert [(p.arxiv_id, p.title, list(p.authors)) for p in result.papers[:12]] == [
        (r["id"], r["title"], r["authors"]) for r in rows.values()]
    assert len(result.warnings) == 1 and result.warnings[0].startswith("5 items list a paper listed before, merged")


def test_a_bad_line_in_json_lines_is_still_one_clear_error():
    data = b'{"id": "2607.00001", "title": "A"}\n{"id": "2607.00002", "title": \n'
    with pytest.raises(SnapshotError, match=r"^bad.jsonl:\d+: invalid JSON") as raised:
        parse_snapshot(data, input="bad.jsonl")
    assert "\n" not in str(raised.value)


def test_an_hf_api_error_answer_is_named_as_one():
    with pytest.raises(SnapshotError, match=r"^api.json: the Hugging Face API answered with an error, not papers: "
                                            r"Invalid date: expected YYYY-MM-DD$"):
        parse_snapshot(b'{"error": "Invalid date: expected YYYY-MM-DD"}', input="api.json")


def test_invisible_characters_in_api_titles_are_dropped_so_the_page_copy_is_the_same_paper():
    # Before: "Trans\u200bformers" stayed in the API's title while the page's copy lost it, so the
    # page's paper (no arXiv id) did not match the API's and one paper was stored twice.
    title = "Graph\u00adNeural Trans\u200bformers for \u200eText"
    item = [{"paper": {"id": "2607.00001", "title": title, "summary": "We study.", "authors": [{"name": "A\u200bnn Lee"}]}}]
    paper = hf_api.parse(json.dumps(item).encode()).papers[0]
    assert (paper.title, paper.authors) == ("GraphNeural Transformers for Text", ("Ann Lee",))
    page = f"Daily Papers\n\n{title}\n\n{'An abstract sentence. ' * 6}\n".encode()
    assert hf_page.parse(page).papers[0].title == paper.title
