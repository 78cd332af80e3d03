"""RSS 2.0 and Atom 1.0 feeds of papers, built with feedgen.

Pure: records in, bytes out. No database, no HTTP, no clock (see "Dates" below), so the
same input always gives the same bytes and the web layer can cache them and answer
conditional requests with `feed_etag` / `last_modified`.

Identity (stable across builds, never derived from position or time):

* RSS ``<guid isPermaLink="false">`` is the paper key itself, e.g. ``arxiv:2609.26811``,
  ``doi:10.1234/abc``, ``title:3f2a...`` (see `digest.diff.paper_key`).
* Atom ``<id>`` must be an IRI, so it is a tag URI (RFC 4151) wrapping the key:
  ``tag:paper-digest,2026:arxiv:2609.26811`` (`entry_id`). Characters of the key
  outside ``A-Za-z0-9 : / @ - . _ ~`` are percent-encoded (UTF-8), which keeps the URI
  valid and the mapping one-to-one. The prefix must never change once feeds are public,
  or every reader would see every paper again.

Dates: an entry's date (RSS ``pubDate``, Atom ``published`` and ``updated``) is
``paper.first_seen``, else ``paper.published`` at 00:00 UTC, else ``paper.listing_day``
at 00:00 UTC, else the feed's date. Naive datetimes are taken as UTC; all dates are
truncated to whole seconds (HTTP dates and RSS dates have no finer resolution). The
feed's date (Atom ``updated``, RSS ``lastBuildDate``) is the `updated` argument, else
the newest entry date, else `EPOCH` for an empty feed: never "now".

Text: control characters that XML 1.0 forbids or that are invisible junk (C0 except
tab/LF/CR, DEL, C1, lone surrogates, U+FFFE/U+FFFF) are removed from every string that
goes into the feed (`clean_text`). Titles, bylines and categories are additionally
collapsed to one line (`one_line`). Entry bodies are HTML whose only markup is our own
``<p>`` paragraphs and the ``<b>`` marks of a ranked paper's snippet; all other text is
escaped. Titles, bylines, snippets and abstracts are display text (`digest.text`: arXiv
LaTeX rendered as Unicode, lengths capped); ids come from the stored paper.
RSS 2.0 never said whether a title is text or HTML and many readers render it as
HTML, so in RSS titles, authors (dc:creator) and the channel description ``<`` and ``>`` are written as ``&lt;``
and ``&gt;`` before the XML escaping: no tag can form, so a paper titled
``<img onerror=...>`` shows as text and never runs. ``&`` is left alone (it forms no tag,
and "R&D" then reads right in text-only readers too). Atom says ``type="text"`` and needs
no second escaping.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Literal, Sequence
from urllib.parse import quote

import nh3
from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

import digest
from digest.diff import paper_key
from digest.models import Paper, RankedPaper
from digest.text import display_byline, display_ranked, display_title, for_display

__all__ = [
    "EPOCH",
    "FeedInfo",
    "build_feed",
    "clean_text",
    "entry_date",
    "entry_html",
    "entry_id",
    "feed_etag",
    "last_modified",
    "one_line",
]

FeedFormat = Literal["rss", "atom"]

# The date of a feed with no entries and no `updated`: fixed, so output is deterministic.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# RFC 4151 tag URI prefix for Atom ids. Changing it re-identifies every entry: don't.
TAG_PREFIX = "tag:paper-digest,2026:"

_MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}

# C0 controls except \t \n \r (forbidden in XML 1.0), DEL and C1 (allowed but invisible
# junk from bad listings), surrogates (unencodable when unpaired), U+FFFE/U+FFFF (not XML
# characters).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Absolute http(s) URL with nothing that could break out of an attribute or text node;
# a `javascript:` or `data:` link from a third-party listing never becomes a link.
_HTTP_URL = re.compile(r"https?://[^\s\"'<>\\`\x00-\x1f\x7f]+", re.I)
# Paper.url's preference order, for falling back past an unsafe link.
_LINK_ORDER = ("abs", "hf", "project", "pdf", "code")
# Characters left as-is in the tag URI's specific part; everything else is %-encoded.
_TAG_SAFE = ":/@-._~"


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What a feed says about itself.

    `link` is the HTML page the feed mirrors; `self_url` the feed's own URL (emitted as
    ``rel="self"`` in both formats). `feed_id` is the Atom feed id and must be a stable
    IRI; empty means `self_url`. `description` is the RSS description / Atom subtitle;
    empty means `title` (RSS requires one).
    """

    title: str
    link: str
    self_url: str
    description: str = ""
    feed_id: str = ""
    language: str = "en"
    # A subscriber's signed "more / less like this" URL: each entry links it with ?p=<id>&v=...
    feedback_url: str = ""


# --- text -----------------------------------------------------------------------------


def clean_text(text: str | None) -> str:
    """`text` with the characters in `_BAD_CHARS` removed (None -> "").

    Nothing else changes: whitespace, markup-looking text and non-ASCII are kept.
    """
    return _BAD_CHARS.sub("", text) if text else ""


def one_line(text: str | None) -> str:
    """`clean_text`, then every run of whitespace (``str.split`` sense) -> one space, trimmed.

    This is exactly what a title becomes in the feed: listing titles carry newlines and
    indentation that no reader should show.
    """
    return " ".join(clean_text(text).split())


def _safe_url(url: str | None) -> str | None:
    """`url` stripped if it is an absolute http(s) URL, else None."""
    url = clean_text(url).strip()
    return url if _HTTP_URL.fullmatch(url) else None


def _entry_url(paper: Paper) -> str | None:
    """`paper.url` if safe, else the next safe link in the same preference order.

    A listing's bad "abs" link should not cost the entry its good PDF link.
    """
    candidates = [paper.url, *(paper.links.get(kind) for kind in _LINK_ORDER), *paper.links.values()]
    return next((url for url in map(_safe_url, candidates) if url), None)


def _snippet_html(snippet: str) -> str:
    """The snippet as HTML whose only tags are <b>; anything else is dropped or escaped.

    The ranker already escapes it, but it crosses a module line, so it is sanitised again
    rather than trusted. nh3 drops <script>/<style> with their content.
    """
    return nh3.clean(clean_text(snippet), tags={"b"}, attributes={}, strip_comments=True).strip()


def _escape(text: str) -> str:
    """Plain text as HTML text: cleaned, whitespace collapsed (HTML would anyway), escaped."""
    return html.escape(" ".join(clean_text(text).split()), quote=False)


def entry_html(item: RankedPaper | Paper, feedback_url: str = "") -> str:
    """The entry body: [snippet] [matched: ... · like "title"] [abstract] [more/less like this],
    each a <p>; may be "".

    Only the snippet contributes markup (<b>) besides the feedback links (whose URL is ours,
    checked and escaped); the abstract, matched terms and titles are escaped.
    """
    paper = _paper(item)
    parts: list[str] = []
    if isinstance(item, RankedPaper):
        snippet = _snippet_html(item.snippet)
        if snippet:
            parts.append(f"<p>{snippet}</p>")
        matched = [one_line(term) for term in item.matched if one_line(term)]
        why = [f"matched: {', '.join(matched)}"] if matched else []
        if item.because is not None:
            why.append(f"like \u201c{one_line(display_title(item.because))}\u201d")
        if why:
            parts.append(f"<p>{_escape(' · '.join(why))}</p>")
    abstract = _escape(paper.abstract)
    if abstract:
        parts.append(f"<p>{abstract}</p>")
    base = _safe_url(feedback_url) if feedback_url else None
    if base and paper.id is not None:
        more, less = (html.escape(f"{base}?p={paper.id}&v={v}") for v in ("more", "less"))
        parts.append(f'<p><a href="{more}">More like this</a> · <a href="{less}">Less like this</a></p>')
    return "".join(parts)


# --- identity and dates ---------------------------------------------------------------


def _key(paper: Paper) -> str:
    """The stored key; a paper not yet stored gets the key the store would give it."""
    return clean_text(paper.key or paper_key(paper))


def entry_id(key: str) -> str:
    """The Atom id (a tag URI) for a paper key; one-to-one and stable."""
    return TAG_PREFIX + quote(clean_text(key), safe=_TAG_SAFE)


def _utc(moment: datetime) -> datetime:
    """Aware UTC, whole seconds. Naive datetimes are taken as UTC (the store's convention)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def entry_date(paper: Paper) -> datetime | None:
    """first_seen, else published at 00:00 UTC, else listing_day at 00:00 UTC, else None."""
    if paper.first_seen is not None:
        return _utc(paper.first_seen)
    day = paper.published or paper.listing_day
    return _midnight(day) if day is not None else None


def _paper(item: RankedPaper | Paper) -> Paper:
    return item.paper if isinstance(item, RankedPaper) else item


def _entries(items: Sequence[RankedPaper | Paper]) -> list[RankedPaper | Paper]:
    """The items that become entries: those with a non-blank title, in the given order."""
    return [item for item in items if one_line(_paper(item).title)]


def last_modified(items: Sequence[RankedPaper | Paper], updated: datetime | None = None) -> datetime:
    """The feed's date, as `build_feed` writes it: for Last-Modified / If-Modified-Since.

    `updated` (as aware UTC, whole seconds) if given, else the newest entry date among the
    items that become entries, else `EPOCH`.
    """
    if updated is not None:
        return _utc(updated)
    dates = [d for d in (entry_date(_paper(item)) for item in _entries(items)) if d is not None]
    return max(dates, default=EPOCH)


def feed_etag(body: bytes) -> str:
    """A strong ETag for the feed bytes: the quoted first 128 bits of their SHA-256.

    Equal bytes give equal tags; since `build_feed` is deterministic, so does equal input.
    """
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


# --- building -------------------------------------------------------------------------


def _feed_generator(info: FeedInfo, format: FeedFormat, feed_date: datetime) -> FeedGenerator:
    fg = FeedGenerator()
    title = one_line(info.title) or "Paper Digest"
    self_url = clean_text(info.self_url).strip()
    fg.id(clean_text(info.feed_id).strip() or self_url)
    fg.title(_as_rss_text(title, format))
    fg.description(_as_rss_text(one_line(info.description) or title, format))  # also the Atom subtitle
    fg.language(clean_text(info.language).strip() or "en")
    # Atom requires a feed author when an entry has none; the feed's title stands in.
    fg.author({"name": title})
    fg.generator("Paper Digest", version=digest.__version__)
    # Order matters: feedgen uses the *last* link as the RSS <link>, so self goes first.
    fg.link(href=self_url, rel="self", type=_MEDIA_TYPES[format])
    fg.link(href=clean_text(info.link).strip(), rel="alternate", type="text/html")
    # feedgen defaults both to now(); set them so output depends only on input.
    fg.updated(feed_date)
    fg.lastBuildDate(feed_date)
    if format == "rss":
        # RSS <author> must be an email address; dc:creator carries a plain name.
        fg.load_extension("dc", atom=False, rss=True)
    return fg


def _add_entry(fg: FeedGenerator, item: RankedPaper | Paper, format: FeedFormat, fallback: datetime,
               feedback_url: str = "") -> None:
    paper = _paper(item)  # as stored: its key and links identify the entry
    # What readers see: LaTeX rendered as Unicode, lengths capped (digest.text).
    shown = display_ranked(item) if isinstance(item, RankedPaper) else for_display(item)
    fe: FeedEntry = fg.add_entry(order="append")  # feedgen prepends by default
    fe.title(_as_rss_text(one_line(_paper(shown).title), format))
    key = _key(paper)
    if format == "rss":
        fe.guid(key, permalink=False)
    else:
        fe.id(entry_id(key))
    url = _entry_url(paper)
    if url:
        fe.link(href=url, rel="alternate")
    moment = entry_date(paper) or fallback
    fe.published(moment)
    fe.updated(moment)
    byline = one_line(display_byline(paper))
    if byline:
        if format == "rss":
            fe.dc.dc_creator(_as_rss_text(byline, format))  # rendered as HTML by some readers too
        else:
            fe.author({"name": byline})
    for category in dict.fromkeys(one_line(c) for c in paper.categories):
        if category:
            fe.category({"term": category})
    body = entry_html(shown, feedback_url)
    if not body and not url:
        # An Atom entry needs content or an alternate link; the title is all there is.
        body = _escape(_paper(shown).title)
    if body:
        if format == "rss":
            fe.description(body)
        else:
            fe.content(body, type="html")


def _as_rss_text(text: str, format: FeedFormat) -> str:
    """RSS: `text` with no tag-forming characters, for readers that render titles as HTML
    (see the module docstring)."""
    return text.replace("<", "&lt;").replace(">", "&gt;") if format == "rss" else text


def build_feed(
    items: Sequence[RankedPaper | Paper],
    info: FeedInfo,
    *,
    format: FeedFormat,
    updated: datetime | None = None,
) -> bytes:
    """An RSS 2.0 (`format="rss"`) or Atom 1.0 (`"atom"`) document, UTF-8 bytes.

    Entries keep the order of `items`; items whose title is blank after `one_line` are
    skipped. Deterministic: the same arguments give the same bytes (no clock is read).
    See the module docstring for ids, dates and text rules.
    """
    if format not in _MEDIA_TYPES:
        raise ValueError(f"unknown feed format {format!r} (want 'rss' or 'atom')")
    entries = _entries(items)
    feed_date = last_modified(entries, updated)
    fg = _feed_generator(info, format, feed_date)
    for item in entries:
        _add_entry(fg, item, format, feed_date, info.feedback_url)
    if format == "rss":
        return fg.rss_str(pretty=False)
    return fg.atom_str(pretty=False)
