"""Feeds and files framed unlike the shipped fixtures: the legacy arXiv RSS 1.0 feed, UTF-16
text, gzip-compressed input, "et al." in an author list (tests/data/unseen/)."""

from __future__ import annotations

import gzip
import random
from datetime import date
from pathlib import Path

import pytest

from digest.errors import SnapshotError
from digest.sources import feed, hf_api, parse_snapshot

UNSEEN = Path(__file__).resolve().parents[2] / "data" / "unseen"


def test_legacy_arxiv_rdf_feed_titles_authors_and_announce_types():
    result = parse_snapshot((UNSEEN / "arxiv-rss-legacy-rdf.xml").read_bytes(), input="legacy.xml")
    assert result.format == "arxiv-rss" and result.listing_day == date(2020, 9, 29)
    got = [(p.title, p.arxiv_id, p.authors, p.abstract, p.announce_type, p.categories) for p in result.papers]
    assert got == [
        ("Random Polytope Descriptors", "2009.13987", ("Michael Joswig", "Marek Kaluba"),
         "We introduce a class of random polytopes with n<k.", "new", ("cs.LG",)),
        ("Old Paper: With a Colon", "2005.00001", ("Ann Lee",), "Abstract two.", "replace", ("cs.CV",)),
        ("Crossed", "2009.00002", ("Bob Ray",), "Abstract three.", "cross", ("stat.ML",)),
    ]


def test_utf16_feed_declaring_utf16_reads_like_its_utf8_original(samples):
    original = feed.parse((samples / "feeds/arxiv-rss-new-cross-replace.xml").read_bytes())
    result = parse_snapshot((UNSEEN / "arxiv-rss-utf16.xml").read_bytes(), input="utf16.xml")
    assert result.papers == original.papers and result.format == "arxiv-rss"


def test_utf16_page_text_reads_like_its_utf8_original():
    original = parse_snapshot((UNSEEN / "hf-page-submitted-by-lines.txt").read_bytes(), input="a", today=date(2026, 8, 1))
    result = parse_snapshot((UNSEEN / "hf-page-utf16.txt").read_bytes(), input="b", today=date(2026, 8, 1))
    assert result.papers == original.papers and len(result.papers) == 4


def test_gzip_compressed_input_is_unpacked(samples):
    original = hf_api.parse((samples / "hf-api/daily-papers-5-pretty.json").read_bytes())
    result = parse_snapshot((UNSEEN / "daily-papers-5.json.gz").read_bytes(), input="papers.json.gz")
    assert result.papers == original.papers and len(result.papers) == 5
    two_members = gzip.compress(b"[") + gzip.compress(b"]")
    assert parse_snapshot(two_members, input="x").papers == []


@pytest.mark.parametrize("data,message", [
    (gzip.compress(b"[]" * 300)[:20], "gzip data stops before its end"),
    (b"\x1f\x8b\x08\x00" + b"x" * 40, "gzip data is corrupt"),
    (gzip.compress(b" " * 5000 + b"[]"), "unpacks to more than 1,000 bytes"),
    (b"\xff\xfe\x00\xd8", "not UTF-16 text despite its byte order mark"),
])
def test_bad_compressed_or_wide_input_is_one_clear_error(data, message):
    with pytest.raises(SnapshotError, match=message) as raised:
        parse_snapshot(data, input="in.gz", max_bytes=1000)
    assert str(raised.value).startswith("in.gz") and "\n" not in str(raised.value)


def test_et_al_in_an_arxiv_creator_list_is_not_an_author(samples):
    data = (samples / "feeds/arxiv-rss-cs-ai.xml").read_bytes()
    first = feed.parse(data).papers[0]
    creators = ", ".join(first.authors)
    changed = feed.parse(data.replace(creators.encode(), (creators + ", et al.").encode(), 1)).papers[0]
    assert changed.authors == first.authors
    assert feed.without_et_al(["Ann Lee et al.", "others", "Al Etal"]) == ("Ann Lee", "Al Etal")


def test_an_arxiv_api_error_response_is_an_error_not_a_paper_titled_error():
    with pytest.raises(SnapshotError, match=r"^q.atom: the arXiv API answered with an error, not papers: "
                                            r"incorrect id format for 1234.1234$"):
        parse_snapshot((UNSEEN / "arxiv-api-error.atom.xml").read_bytes(), input="q.atom")


def test_drop_invisible_agrees_with_deleting_each_character():
    invisible = ("\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u202a\u202b\u202c\u202d\u202e"
                 "\u2066\u2067\u2068\u2069")
    rng = random.Random(7)
    alphabet = invisible + "ab é·•\u2061\u200a\u00a0\u2028x"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert feed.drop_invisible(text) == text.translate(dict.fromkeys(map(ord, invisible)))


def test_bidi_overrides_and_isolates_in_a_title_are_dropped():
    # "Trojan Source": an isolate or override would reorder what readers see around it.
    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
           '<title>Safe \u2067\u202etitle\u202c\u2069 here</title><link>https://arxiv.org/abs/2607.00001</link>'
           '<description>An abstract \u2066with\u2069 isolates.</description></item></channel></rss>')
    paper = feed.parse(rss.encode()).papers[0]
    assert paper.title == "Safe title here"
    assert paper.abstract == "An abstract with isolates."
