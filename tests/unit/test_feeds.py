"""digest.feeds: RSS/Atom output parses cleanly, keeps ids stable and never leaks markup."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import unquote

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.feeds import (
    EPOCH,
    FeedInfo,
    build_feed,
    entry_date,
    entry_id,
    feed_etag,
    last_modified,
)
from digest.models import Paper, RankedPaper
from digest.text import display_title

FORMATS = ("rss", "atom")
ATOM = "{http://www.w3.org/2005/Atom}"
INFO = FeedInfo(
    title="Paper Digest: graph learning",
    link="https://digest.example.org/",
    self_url="https://digest.example.org/feeds/abc123.xml",
    description="Papers matching your interests",
)
SCRIPT_TITLE = "<script>alert(1)</script> Robust & Fast Attention"
SEEN = datetime(2026, 9, 24, 6, 30, 15, 123456, tzinfo=timezone.utc)


def _papers() -> list[Paper | RankedPaper]:
    """Realistic mixed input, in the order the feed must keep."""
    arxiv = Paper(
        title="Graph Neural Networks\n   at Scale",
        abstract="We train graph neural networks on 10^9 edges.",
        arxiv_id="2609.26811v2",
        key="arxiv:2609.26811",
        authors=("Ada Lovelace", "Alan Turing"),
        categories=("cs.LG", "cs.AI", "cs.LG"),
        links={"abs": "https://arxiv.org/abs/2609.26811", "pdf": "https://arxiv.org/pdf/2609.26811"},
        first_seen=SEEN,
    )
    ranked = RankedPaper(
        paper=arxiv,
        score=4.2,
        matched=("graph", "neural"),
        snippet="We train <b>graph</b> <b>neural</b> <i>networks</i> &amp; more<script>steal()</script>",
    )
    by_title = Paper(  # HF listing without an arXiv id: keyed by title hash
        title="A Survey of Diffusion Policies",
        abstract="Survey.",
        key="title:0f1e2d3c4b5a69788796",
        organization="Example Lab",
        links={"hf": "https://huggingface.co/papers/diffusion-policies"},
        published=date(2026, 9, 22),
    )
    hostile = Paper(
        title=SCRIPT_TITLE,
        abstract="If a < b & c > d then <img src=x onerror=alert(2)> holds.",
        arxiv_id="2609.00001",
        key="arxiv:2609.00001",
        author_count=3,
        links={"abs": "https://arxiv.org/abs/2609.00001"},
        listing_day=date(2026, 9, 23),
    )
    weird = Paper(
        title="Schrödinger\x00 Bridges für 数据\x07 \x1b[31m",
        abstract="Abstract with NUL\x00, bell\x07 and ümlauts — and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢.",
        doi="10.1000/XYZ(2)",
        key="doi:10.1000/xyz(2)",
        authors=("José Núñez\x0b",),
        links={"abs": "javascript:alert(3)", "pdf": "https://example.org/paper.pdf"},
        first_seen=datetime(2026, 9, 20, 12, 0),  # naive: taken as UTC
    )
    blank = Paper(title=" \x00\n ", key="title:ffffffffffffffffffff")  # skipped: no title
    return [ranked, by_title, hostile, blank, weird]


def _parse(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def _xml_items(body: bytes, format: str) -> list[ET.Element]:
    root = ET.fromstring(body)
    return root.findall("./channel/item") if format == "rss" else root.findall(f"{ATOM}entry")


def _body_html(entry: feedparser.FeedParserDict, format: str) -> str:
    return entry.summary if format == "rss" else entry.content[0].value


class _Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):  # noqa: ANN001 - HTMLParser signature
        self.tags.add(tag)


@pytest.fixture(params=FORMATS)
def format(request) -> str:
    return request.param


@pytest.fixture
def body(format) -> bytes:
    return build_feed(_papers(), INFO, format=format)


def test_entries_keep_order_titles_and_links(body, format):
    entries = _parse(body).entries
    assert [_shown(e, format) for e in entries] == [
        "Graph Neural Networks at Scale",
        "A Survey of Diffusion Policies",
        SCRIPT_TITLE,
        "Schrödinger Bridges für 数据 [31m",
    ]
    assert [e.get("link") for e in entries] == [
        "https://arxiv.org/abs/2609.26811",
        "https://huggingface.co/papers/diffusion-policies",
        "https://arxiv.org/abs/2609.00001",
        "https://example.org/paper.pdf",  # javascript: abs link is never used
    ]
    assert b"javascript:" not in body


def test_ids_encode_the_key_and_are_stable(body, format):
    keys = ["arxiv:2609.26811", "title:0f1e2d3c4b5a69788796", "arxiv:2609.00001", "doi:10.1000/xyz(2)"]
    entries = _parse(body).entries
    if format == "rss":
        assert [e.id for e in entries] == keys
        assert all(e.guidislink is False for e in entries)
        assert b'isPermaLink="false"' in body
    else:
        assert [e.id for e in entries] == [entry_id(k) for k in keys]
        assert entries[0].id == "tag:paper-digest,2026:arxiv:2609.26811"
        assert entries[3].id == "tag:paper-digest,2026:doi:10.1000/xyz%282%29"
    assert build_feed(_papers(), INFO, format=format) == body


def test_entry_dates_follow_first_seen_then_published_then_listing_day(body, format):
    expected = [
        SEEN.replace(microsecond=0),
        datetime(2026, 9, 22, tzinfo=timezone.utc),
        datetime(2026, 9, 23, tzinfo=timezone.utc),
        datetime(2026, 9, 20, 12, tzinfo=timezone.utc),
    ]
    if format == "rss":
        raw = [parsedate_to_datetime(item.findtext("pubDate")) for item in _xml_items(body, format)]
    else:
        raw = [datetime.fromisoformat(item.findtext(f"{ATOM}published")) for item in _xml_items(body, format)]
        updated = [datetime.fromisoformat(item.findtext(f"{ATOM}updated")) for item in _xml_items(body, format)]
        assert updated == raw
    assert all(moment.tzinfo is not None for moment in raw)
    assert raw == expected
    parsed = [datetime(*e.published_parsed[:6], tzinfo=timezone.utc) for e in _parse(body).entries]
    assert parsed == expected


def test_feed_date_is_newest_entry_or_the_given_updated(body, format):
    newest = SEEN.replace(microsecond=0)
    assert last_modified(_papers()) == newest
    feed = _parse(body).feed
    assert datetime(*feed.updated_parsed[:6], tzinfo=timezone.utc) == newest
    given_ = datetime(2026, 10, 1, 8, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    feed = _parse(build_feed(_papers(), INFO, format=format, updated=given_)).feed
    assert datetime(*feed.updated_parsed[:6], tzinfo=timezone.utc) == datetime(2026, 10, 1, 6, tzinfo=timezone.utc)
    assert last_modified(_papers(), given_) == datetime(2026, 10, 1, 6, tzinfo=timezone.utc)


def test_entry_date_rules():
    assert entry_date(Paper(title="t")) is None
    assert entry_date(Paper(title="t", listing_day=date(2026, 1, 2))) == datetime(2026, 1, 2, tzinfo=timezone.utc)
    both = Paper(title="t", published=date(2026, 1, 1), listing_day=date(2026, 1, 2))
    assert entry_date(both) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    berlin = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert entry_date(Paper(title="t", first_seen=berlin, published=date(2025, 1, 1))) == datetime(
        2026, 1, 1, tzinfo=timezone.utc
    )


def test_feed_metadata_and_self_link(body, format):
    feed = _parse(body).feed
    assert feed.title == INFO.title
    assert {"rel": "self", "href": INFO.self_url} in [{"rel": l.rel, "href": l.href} for l in feed.links]
    assert feed.link == INFO.link
    assert feed.language == "en"
    if format == "atom":
        assert feed.id == INFO.self_url


def test_script_title_is_literal_text_and_no_tag_leaks(body, format):
    assert b"<script" not in body.lower()
    assert b"<img" not in body.lower()
    hostile = _parse(body).entries[2]
    assert _shown(hostile, format) == SCRIPT_TITLE
    if format == "rss":  # many readers render RSS titles as HTML: there must be no tag in it
        assert "<" not in hostile.title and ">" not in hostile.title
    text = _body_html(hostile, format)
    assert "a &lt; b &amp; c &gt; d" in text  # shown literally by a reader
    assert _Tags(text).tags == {"p"}


def test_snippet_bold_survives_and_nothing_else(body, format):
    item = _xml_items(body, format)[0]
    html = item.findtext("description") if format == "rss" else item.findtext(f"{ATOM}content")
    assert "<b>graph</b> <b>neural</b>" in html
    assert "<p>matched: graph, neural</p>" in html
    assert _Tags(html).tags == {"p", "b"}
    assert "steal()" not in html and "<i>" not in html
    assert "We train graph neural networks on 10^9 edges." in html  # the abstract too
    # What a reader gets after feedparser's own sanitising is the same markup.
    assert "<b>graph</b>" in _body_html(_parse(body).entries[0], format)


def test_authors_and_categories(body, format):
    entries = _parse(body).entries
    assert [e.get("author") for e in entries] == ["Ada Lovelace, Alan Turing", "Example Lab", "3 authors", "José Núñez"]
    assert [t.term for t in entries[0].tags] == ["cs.LG", "cs.AI"]


def test_control_characters_are_stripped(body, format):
    assert b"\x00" not in body and b"\x07" not in body and b"\x1b" not in body
    assert "Abstract with NUL, bell and ümlauts" in _body_html(_parse(body).entries[3], format)


def test_empty_feed_is_valid_and_dated_at_epoch(format):
    body = build_feed([], INFO, format=format)
    parsed = _parse(body)
    assert parsed.entries == []
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=timezone.utc) == EPOCH
    assert last_modified([]) == EPOCH
    assert build_feed([], INFO, format=format) == body
    later = datetime(2026, 9, 24, tzinfo=timezone.utc)
    parsed = _parse(build_feed([], INFO, format=format, updated=later))
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=timezone.utc) == later


def test_paper_without_key_uses_the_key_the_store_would_give(format):
    fresh = Paper(title="Unstored", arxiv_id="2609.11111v3", links={"abs": "https://arxiv.org/abs/2609.11111"})
    entry = _parse(build_feed([fresh], INFO, format=format)).entries[0]
    assert entry.id == ("arxiv:2609.11111" if format == "rss" else entry_id("arxiv:2609.11111"))


def test_etag_is_a_stable_strong_tag(body):
    tag = feed_etag(body)
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert feed_etag(bytes(body)) == tag
    assert feed_etag(body + b" ") != tag
    assert feed_etag(build_feed(_papers()[:1], INFO, format="rss")) != feed_etag(
        build_feed(_papers()[:1], INFO, format="atom")
    )


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError):
        build_feed([], INFO, format="json")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------

# The characters the feed removes (see digest.feeds.clean_text), written out independently.
_REMOVED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def expected_title(title: str) -> str:
    """The title contract: the display title (digest.text: LaTeX rendered, capped), with
    `_REMOVED` characters removed, then whitespace collapsed.

    Whitespace is what `str.split()` splits on (Unicode whitespace, incl. NBSP and
    U+2028); runs become one space and the ends are trimmed. Control characters are
    removed *before* collapsing, so "a\\x1fb" (U+001F is str whitespace) becomes "ab".
    """
    return " ".join(_REMOVED.sub("", display_title(Paper(title))).split())


# Any code point, surrogates included: the feed must cope with whatever a listing held.
_any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)


@settings(max_examples=300, deadline=None)
@given(title=_any_text, abstract=_any_text, snippet=_any_text, key=_any_text, format=st.sampled_from(FORMATS))
def test_arbitrary_text_always_gives_a_valid_feed(title, abstract, snippet, key, format):
    paper = Paper(title=title, abstract=abstract, key=f"arxiv:{key}", links={"abs": "https://arxiv.org/abs/1"})
    body = build_feed([RankedPaper(paper, 1.0, (snippet,), snippet)], INFO, format=format)
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    want = expected_title(title)
    if not want:
        assert parsed.entries == []  # a blank title means no entry
        return
    # The contract, on the XML itself: the title element's text is exactly `want`.
    (item,) = _xml_items(body, format)
    if format == "rss":  # no tag can form in readers that render it as HTML
        assert item.findtext("title") == want.replace("<", "&lt;").replace(">", "&gt;")
    else:
        assert item.findtext(f"{ATOM}title") == want
    (entry,) = parsed.entries
    if format == "atom":
        # <title type="text"> is unambiguous, so a reader gets the text back; RSS titles
        # have no declared type and feedparser guesses HTML when the text looks like markup
        # ("a <b>x</b>"), so for RSS only the XML-level check above is meaningful.
        assert entry.title == _feedparser_view(want)
        assert unquote(entry.id.removeprefix("tag:paper-digest,2026:")) == _REMOVED.sub("", f"arxiv:{key}")


def _shown(entry, format: str) -> str:
    """The title as a reader that renders RSS titles as HTML shows it (Atom: the text itself)."""
    return html.unescape(entry.title) if format == "rss" else entry.title


def _feedparser_view(text: str) -> str:
    """What feedparser makes of correct text in a UTF-8 feed.

    feedparser "repairs" strings that are valid UTF-8 once encoded as Latin-1 (it takes
    them for mojibake): "\u00c2\u00a1" comes back as "\u00a1". Not ours to fix.
    """
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except UnicodeError:
        return text


@settings(max_examples=200, deadline=None)
@given(key=_any_text)
def test_atom_ids_are_valid_tag_uris(key):
    # RFC 4151 specific part: pchar / "/" / "?" -- we only ever emit this ASCII subset.
    assert re.fullmatch(r"tag:paper-digest,2026:[A-Za-z0-9:/@\-._~%]*", entry_id(key))


def test_an_author_name_with_a_tag_cannot_run_in_readers_that_render_it_as_html(format):
    name = '<img src=x onerror="alert(3)"> Mallory'
    paper = Paper(title="Harmless", abstract="A.", authors=(name, "Bob"), arxiv_id="2609.00003",
                  key="arxiv:2609.00003", links={"abs": "https://arxiv.org/abs/2609.00003"})
    body = build_feed([paper], INFO, format=format)
    assert b"<img" not in body.lower()
    if format == "rss":
        creator = _xml_items(body, format)[0].findtext("{http://purl.org/dc/elements/1.1/}creator")
        assert "<" not in creator and ">" not in creator  # no tag can form, even rendered as HTML
        assert html.unescape(creator).startswith(name)  # and a reader shows the name as written
    else:
        assert _parse(body).entries[0].author.startswith(name)
