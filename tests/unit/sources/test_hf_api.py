"""HF /api/daily_papers parser: golden files, listing days, wrong shapes and hostile JSON."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import SnapshotError
from digest.sources import hf_api

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def read(samples, data_dir):
    """Parse a fixture by path relative to digest/samples/ or tests/data/."""

    def parse_file(name: str):
        path = samples / name if (samples / name).exists() else data_dir / name
        return hf_api.parse(path.read_bytes())

    return parse_file


def dumps(value) -> bytes:
    return json.dumps(value).encode()


def item(title="A paper", **paper) -> dict:
    return {"paper": {"id": "2601.00001", "title": title, **paper}, "title": title}


def test_five_item_sample(read):
    result = read("hf-api/daily-papers-5-pretty.json")
    assert (result.format, len(result.papers), result.warnings) == ("hf-api", 5, [])
    assert result.listing_day == date(2026, 7, 31)
    assert [p.arxiv_id for p in result.papers] == ["2607.23193", "2607.27958", "2607.28582", "2607.28308", "2607.16922"]
    assert [p.upvotes for p in result.papers] == [3, 11, 17, 2, 0]
    assert [p.organization for p in result.papers] == [
        None, "Nanyang Technological University", "Furong Huang's Lab at UMD", None, None
    ]
    first = result.papers[0]
    assert first.title == "OmniScope: Modality-Decoupled Token Compression for Omnimodal Large Language Models"
    assert first.authors == ("Jinsen Su", "Yongdong Luo", "Yuexiao Ma", "Yibo Hu", "Meiguang Jin", "Xiaowu Zheng")
    assert first.author_count == 6
    assert first.published == date(2026, 7, 28)  # paper.publishedAt, not the top-level one (07-27 20:00Z)
    assert first.listing_day == date(2026, 7, 31)
    assert first.links == {
        "abs": "https://arxiv.org/abs/2607.23193",
        "pdf": "https://arxiv.org/pdf/2607.23193",
        "hf": "https://huggingface.co/papers/2607.23193",
        "code": "https://github.com/MAC-AutoML/OmniScope",
    }
    assert first.abstract.startswith("Existing token compression methods")
    assert first.announce_type is None and first.categories == ()


def test_thirty_item_sample(read):
    result = read("hf-api/daily-papers-limit30.json")
    assert (len(result.papers), result.listing_day, result.warnings) == (30, date(2026, 6, 12), [])
    by_id = {p.arxiv_id: p for p in result.papers}
    assert len(by_id) == 30
    assert "Dengyang Jiang" in by_id["2606.12575"].authors  # a hidden author is still an author
    assert by_id["2606.12575"].author_count == 10
    assert by_id["2606.00467"].organization == "California institute of technology"
    assert "<swi>" in by_id["2606.13106"].abstract  # plain text: a token name, not a tag
    assert sum("project" in p.links for p in result.papers) == 13
    assert sum("code" in p.links for p in result.papers) == 16


def test_response_spanning_two_listing_days(read):
    result = read("more/hf_daily_papers_api/ai-weekly-radar__limit25__2026-07-13.json")
    assert len(result.papers) == 25
    assert result.listing_day == date(2026, 7, 13)  # the latest day in the response
    assert Counter(p.listing_day for p in result.papers) == {date(2026, 7, 13): 14, date(2026, 7, 10): 11}
    assert result.papers[1].organization == "Navercorp"


def test_submitted_on_daily_at_with_a_time_part(read):
    result = read("more/hf_daily_papers_api/llm-paper-radar__3items_pretty__2026-05-08.json")
    assert result.listing_day == date(2026, 5, 8)
    assert {p.listing_day for p in result.papers} == {date(2026, 5, 8)}
    assert [(p.arxiv_id, p.upvotes, p.organization) for p in result.papers] == [
        ("2605.05242", 86, "TIGER-Lab"), ("2605.06548", 68, "ByteDance Seed"), ("2605.06130", 67, None)
    ]


def test_older_response_uses_top_level_published_at_as_listing_day():
    old = {"paper": {"id": "2401.00001v2", "title": "Old", "publishedAt": "2024-01-02T00:00:00.000Z"},
           "publishedAt": "2024-01-04T10:00:00.000Z", "title": "Old"}
    result = hf_api.parse(dumps([old]))
    paper = result.papers[0]
    assert (paper.arxiv_id, paper.published, paper.listing_day) == ("2401.00001", date(2024, 1, 2), date(2024, 1, 4))
    assert result.listing_day == date(2024, 1, 4)


def test_listing_day_is_the_utc_date():
    result = hf_api.parse(dumps([item(submittedOnDailyAt="2026-05-07T22:30:00-04:00")]))
    assert result.papers[0].listing_day == date(2026, 5, 8)


def test_text_is_collapsed_and_fallbacks_apply():
    data = dumps([
        {"paper": {"id": "2601.00002", "summary": "", "authors": [{"name": " Ann \n Lee "}, {"name": ""}, "Bo"],
                   "organization": {"name": "org-handle"}, "upvotes": True,
                   "githubRepo": "javascript:alert(1)", "projectPage": "https://example.org/p"},
         "title": "  A\n   spaced\ttitle ", "summary": "Top  level\nsummary"},
    ])
    paper = hf_api.parse(data).papers[0]
    assert paper.title == "A spaced title"
    assert paper.abstract == "Top level summary"
    assert paper.authors == ("Ann Lee", "Bo")
    assert paper.organization == "org-handle"
    assert paper.upvotes is None
    assert "code" not in paper.links and paper.links["project"] == "https://example.org/p"


@pytest.mark.parametrize("doc", [{"papers": [item()]}, item()])
def test_wrapped_list_and_single_item_are_accepted(doc):
    assert [p.title for p in hf_api.parse(dumps(doc)).papers] == ["A paper"]


def test_empty_array_is_an_empty_listing():
    result = hf_api.parse(b"[]")
    assert (result.papers, result.listing_day, result.warnings) == ([], None, [])


def test_items_without_title_are_skipped_with_a_warning():
    result = hf_api.parse(dumps([{"paper": {"id": "2601.00003"}}, item("Kept"), 7]))
    assert [p.title for p in result.papers] == ["Kept"]
    assert result.warnings == ["item 1: no title, skipped", "item 3: not an object but a number, skipped"]


def test_repeated_paper_is_kept_for_the_diff_to_merge():
    """The fuller copy may be the second: both go to digest.diff.dedupe, which merges them."""
    result = hf_api.parse(dumps([item("First"), item("First", summary="The abstract.")]))
    assert [(p.title, p.abstract) for p in result.papers] == [("First", ""), ("First", "The abstract.")]
    assert result.warnings == ["item 2: arXiv:2601.00001 listed again (item 1); merged"]


def test_every_item_unusable_is_an_error():
    with pytest.raises(SnapshotError, match="no usable papers"):
        hf_api.parse(dumps([{"paper": {"id": "1"}}, {"paper": {"title": "  "}}]))


def test_truncated_json_keeps_the_complete_items(samples):
    data = (samples / "hf-api/daily-papers-5-pretty.json").read_bytes()
    result = hf_api.parse(data[: len(data) // 2])
    assert [p.title for p in result.papers] == [p.title for p in hf_api.parse(data).papers[:2]]
    assert result.warnings == ["the response is cut off in item 3 (line 235); kept the 2 complete items before it"]


@pytest.mark.parametrize("cut", [b'[{"paper": {"id": "2606.00467", "title": "On the Limits', b"[", b'{"papers": [{"title": "A"}'])
def test_truncated_json_without_a_complete_item_is_refused(cut):
    with pytest.raises(SnapshotError, match="invalid JSON"):
        hf_api.parse(cut)


def test_bad_json_inside_the_document_names_the_line(samples):
    data = (samples / "hf-api/daily-papers-5-pretty.json").read_bytes()
    middle = data.index(b"\n", len(data) // 2)
    with pytest.raises(SnapshotError) as caught:
        hf_api.parse(data[:middle] + b" garbage" + data[middle:])
    assert caught.value.message.startswith("invalid JSON: ")
    assert caught.value.line is not None and caught.value.line > 100
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "data,says",
    [
        (b"", "empty input"),
        (b'{"foo": 1}', "not an HF daily_papers response"),
        (b"[1, 2, 3]", "not an HF daily_papers response"),
        (b'"just a string"', "not an HF daily_papers response"),
        (b"null", "not an HF daily_papers response"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "invalid JSON"),
        (b"<rss></rss>", "invalid JSON"),
        (b"[" * 100_000, "invalid JSON"),
        (b"9" * 5000, "invalid JSON"),
    ],
)
def test_wrong_input_is_named(data, says):
    with pytest.raises(SnapshotError) as caught:
        hf_api.parse(data)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_snapshot_error(data):
    try:
        result = hf_api.parse(data)
    except SnapshotError:
        return
    assert all(paper.title for paper in result.papers)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(["id", "title", "summary", "authors", "upvotes", "publishedAt", "submittedOnDailyAt",
                          "organization", "githubRepo", "projectPage", "paper"])


@FUZZ
@given(st.lists(st.dictionaries(FIELDS, JSON, max_size=6) | JSON, max_size=4),
       st.dictionaries(FIELDS, JSON, max_size=8))
def test_arbitrary_json_raises_only_snapshot_error(items, paper):
    for doc in (items, [{"paper": paper, "title": "t"}], {"papers": items}):
        try:
            result = hf_api.parse(json.dumps(doc).encode())
        except SnapshotError:
            continue
        for found in result.papers:
            assert found.title == " ".join(found.title.split()) != ""


def test_json_in_windows_1252_is_refused_naming_the_line_and_the_byte():
    data = '[\n  {"paper": {"id": "2607.00001", "title": "Jos\u00e9"}}\n]'.encode("cp1252")
    with pytest.raises(SnapshotError) as caught:
        hf_api.parse(data)
    assert caught.value.line == 2 and "not UTF-8 text (byte 0xE9 at column 47)" in str(caught.value)
