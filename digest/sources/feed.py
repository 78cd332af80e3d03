"""Parse RSS 2.0 / Atom paper listings (arXiv RSS, arXiv API, generic feeds) into `Paper`s.

`parse(data)` is pure: bytes in, `ParsedSnapshot` out, no I/O. Any unusable input raises
`SnapshotError` and nothing else. feedparser does the XML work; this module refuses entity
declarations before feedparser sees the document, then maps its entries onto `Paper`.

The text and arXiv-id helpers every source shares live in `fields` (re-exported here for the
modules that have always imported them from `feed`).
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime

import feedparser

# Not public API, but it is exactly the decoding feedparser.parse applies first, so checking its
# output for entity declarations checks what the XML parser will see (UTF-16, EBCDIC, UTF-7...).
from feedparser.encodings import convert_to_utf8

from digest.errors import SnapshotError
from digest.models import Paper, ParsedSnapshot
from digest.sources.fields import (
    arxiv_links,
    clean_text,
    drop_invisible,
    find_arxiv_id,
    html_to_text,
    http_url,
    normalize_arxiv_id,
    without_et_al,
)

__all__ = ["arxiv_links", "clean_text", "drop_invisible", "find_arxiv_id", "html_to_text", "http_url",
           "normalize_arxiv_id", "parse", "repeat_warnings", "without_et_al"]

ANNOUNCE_TYPES = frozenset({"new", "cross", "replace", "replace-cross"})
ARXIV_NS = "http://arxiv.org/schemas/atom"

_DOI_URL = re.compile(r"doi\.org/(10\.\d{4,9}/[^\s?#]+)", re.I)
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.I)
_ROOT_END = re.compile(rb"</\s*(?:[\w.-]+:)?(?:rss|feed|rdf)\s*>\s*$", re.I)
_ARXIV_PREFIX = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.I)
# The arXiv RSS 1.0 (RDF) feeds served until 2024 title every item "Title. (arXiv:2009.13987v1
# [cs.LG])", "... [cs.CV] UPDATED)" for a new version, "... CROSS LISTED)" for a cross-list.
_LEGACY_TITLE = re.compile(r"\.?\s*\(arXiv:\S+\s+\[(?P<category>[^\]]+)\](?:\s+(?P<kind>UPDATED|CROSS LISTED))?\)\s*$")
_LEGACY_KINDS = {None: "new", "UPDATED": "replace", "CROSS LISTED": "cross"}
_LABEL = re.compile(r"^(?P<label>authors?|upvotes?|summary|abstract)\s*:\s*(?P<value>.*)$", re.I)
_LABELS = {"author": "authors", "authors": "authors", "upvote": "upvotes", "upvotes": "upvotes",
           "summary": "abstract", "abstract": "abstract"}
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*;\s*")


def parse(data: bytes) -> ParsedSnapshot:
    """Parse an RSS 2.0 or Atom document into papers in listing order.

    Format is "arxiv-rss", "arxiv-api", "rss" or "atom". Raises SnapshotError, and nothing
    else, for empty input, documents declaring XML entities, non-XML bytes and XML that is
    not a feed. A feed with no entries is valid (0 papers). Entries without a title are
    skipped with a warning; a repeat of an arXiv id is kept, with a warning, for the diff to
    merge into the first (`digest.diff.dedupe`: the fuller copy fills the other's gaps, so a
    repeat is never lost); a malformed feed whose root was recognised is read as far as
    possible, with a warning. `listing_day` is set for arXiv
    RSS only: the channel pubDate's date in its own time zone.
    """
    if not data.strip():
        raise SnapshotError("empty input")
    text, warnings = _to_utf8(data)
    if _ENTITY_DECL.search(text):
        raise SnapshotError("XML entity declarations are not allowed (possible XML bomb)")
    result = _feedparse(text)
    fmt = _format(result)
    if fmt is None:
        raise SnapshotError(f"not an RSS or Atom feed: {_looks_like(data)}")
    if result.get("bozo"):
        problem = _one_line(result.get("bozo_exception"))
        warnings.append(f"feed is not well-formed XML, read what could be recovered: {problem}")
    feed = result.get("feed") or {}
    _refuse_api_error(result.get("entries") or [])
    papers = _papers(result.get("entries") or [], fmt, "huggingface.co" in _feed_links(feed), warnings)
    if papers and result.get("bozo") and not _ROOT_END.search(text[-256:]):
        warnings.append(f"entry {len(result.get('entries') or [])}: the document stops before its end, so the last "
                        "entry may be cut off; kept: a later snapshot with the full entry updates it")
    listing_day = None
    if fmt == "arxiv-rss":
        channel_day = (_local_date(feed.get("published"), feed.get("published_parsed"))
                       or _local_date(feed.get("updated"), feed.get("updated_parsed")))  # legacy dc:date
        listing_day = channel_day or next((p.published for p in papers if p.published), None)
        for paper in papers:
            paper.listing_day = paper.published or listing_day
    return ParsedSnapshot(format=fmt, papers=papers, listing_day=listing_day, warnings=warnings)


def _refuse_api_error(entries: list) -> None:
    """The arXiv API answers a bad query with one entry titled "Error" (id .../api/errors#...): no paper."""
    errors = [e for e in entries if "arxiv.org/api/errors" in str(e.get("id", ""))]
    if errors:
        reason = clean_text(errors[0].get("summary")) or clean_text(errors[0].get("id"))
        raise SnapshotError(f"the arXiv API answered with an error, not papers: {reason[:200]}")


def _papers(entries: list, fmt: str, from_hf: bool, warnings: list[str]) -> list[Paper]:
    """The entries as papers in listing order; untitled ones skipped and repeats kept, both with a warning."""
    papers: list[Paper] = []
    seen: dict[str, int] = {}
    repeats: list[tuple[int, str, int]] = []
    for number, entry in enumerate(entries, 1):
        paper = _paper(entry, fmt, from_hf)
        if paper is None:
            warnings.append(f"entry {number}: no title, skipped")
            continue
        if paper.arxiv_id in seen:
            repeats.append((number, paper.arxiv_id, seen[paper.arxiv_id]))
        elif paper.arxiv_id:
            seen[paper.arxiv_id] = number
        papers.append(paper)
    warnings.extend(repeat_warnings("entry", repeats))
    return papers


def repeat_warnings(kind: str, repeats: list[tuple[int, str, int]]) -> list[str]:
    """Warnings for (number, arXiv id, first number) repeats: one each, or one for them all
    when there are many (a dump listing each cross-list again would print hundreds)."""
    if len(repeats) <= 3:
        return [f"{kind} {n}: arXiv:{arxiv_id} listed again ({kind} {first}); merged" for n, arxiv_id, first in repeats]
    shown = ", ".join(f"{kind} {n} (arXiv:{arxiv_id}, first as {first})" for n, arxiv_id, first in repeats[:3])
    return [f"{len(repeats)} {kind}s list a paper listed before, merged into it: {shown} and {len(repeats) - 3} more"]


def _to_utf8(data: bytes) -> tuple[bytes, list[str]]:
    scratch: dict = {}
    try:
        text = convert_to_utf8({}, bytes(data), scratch)
    except Exception as err:  # e.g. a UTF-16 document holding a lone surrogate
        raise SnapshotError(f"cannot decode the document's text: {_one_line(err)}") from None
    problem = scratch.get("bozo_exception")
    return text, [f"character encoding: {_one_line(problem)}"] if problem else []


def _feedparse(text: bytes) -> dict:
    try:
        # A stream, never bytes: feedparser would try a bytes argument as a file name first.
        return feedparser.parse(io.BytesIO(text), sanitize_html=False, resolve_relative_uris=False)
    except Exception as err:  # a third-party parser on hostile input: keep the contract
        raise SnapshotError(f"feed could not be parsed: {_one_line(err)}") from None


def _format(result: dict) -> str | None:
    version = result.get("version") or ""
    links = _feed_links(result.get("feed") or {})
    entries = result.get("entries") or []
    if version.startswith("rss"):
        arxiv = (
            ARXIV_NS in (result.get("namespaces") or {}).values()
            or any("arxiv_announce_type" in e for e in entries)
            or re.search(r"(rss|export)\.arxiv\.org/rss", links) is not None
        )
        legacy = any(_LEGACY_TITLE.search(str(e.get("title", ""))) for e in entries[:20])
        return "arxiv-rss" if arxiv or legacy else "rss"
    if version.startswith("atom"):
        ids = [str(e.get("id", "")) for e in entries]
        by_id = bool(ids) and all(re.match(r"https?://arxiv\.org/abs/", i) for i in ids)
        return "arxiv-api" if by_id or re.search(r"arxiv\.org/api", links) else "atom"
    return None


def _feed_links(feed: dict) -> str:
    hrefs = [feed.get("link"), feed.get("id")] + [link.get("href") for link in feed.get("links") or []]
    return " ".join(h for h in hrefs if isinstance(h, str))


def _paper(entry: dict, fmt: str, from_hf: bool) -> Paper | None:
    # arXiv writes plain text (so "x<i" is maths); other feeds' titles may carry <i>, <sub>.
    arxiv = fmt.startswith("arxiv")
    title = clean_text(entry.get("title") if arxiv else html_to_text(entry.get("title")))
    legacy = _LEGACY_TITLE.search(title) if fmt == "arxiv-rss" else None
    if legacy:
        title = title[:legacy.start()].strip()
    if not title:
        return None
    body = _entry_body(entry, plain=arxiv and not legacy)  # the legacy feeds' abstracts are HTML
    prefix = _ARXIV_PREFIX.match(body) if fmt == "arxiv-rss" else None
    labels = {} if arxiv else _labelled(body)
    hrefs = [entry.get("id"), entry.get("link")] + [link.get("href") for link in entry.get("links") or []]
    hrefs = [h for h in hrefs if isinstance(h, str)]
    arxiv_id = next(filter(None, map(find_arxiv_id, hrefs)), None)
    authors = _authors(entry, split=fmt == "arxiv-rss") or _split_authors(labels.get("authors", ""))
    upvotes = labels.get("upvotes", "")
    announce = clean_text(entry.get("arxiv_announce_type") or (prefix and prefix.group("type"))).lower()
    tags = [clean_text(tag.get("term")) for tag in entry.get("tags") or []]
    if legacy:
        announce = _LEGACY_KINDS[legacy.group("kind")]
        tags.append(legacy.group("category"))
    return Paper(
        title=title,
        abstract=clean_text(body[prefix.end():] if prefix else labels.get("abstract", body)),
        arxiv_id=arxiv_id,
        doi=_doi(entry, hrefs),
        authors=authors,
        author_count=len(authors) or None,
        published=_local_date(entry.get("published"), entry.get("published_parsed"))
        or _local_date(entry.get("updated"), entry.get("updated_parsed")),
        upvotes=int(upvotes) if upvotes.isdigit() else None,
        links=_links(entry, arxiv_id, from_hf),
        categories=tuple(dict.fromkeys(filter(None, tags))),
        announce_type=announce if fmt == "arxiv-rss" and announce in ANNOUNCE_TYPES else None,
    )


def _entry_body(entry: dict, plain: bool) -> str:
    """The summary (else the first content block); HTML-typed text loses its markup unless plain."""
    for detail in (entry.get("summary_detail"), (entry.get("content") or [None])[0]):
        value = detail.get("value") if isinstance(detail, dict) else None
        if isinstance(value, str) and value.strip():
            return value if plain or "html" not in str(detail.get("type")) else html_to_text(value)
    return ""


def _labelled(body: str) -> dict[str, str]:
    """"Authors: ...", "Upvotes: N", "Summary: ..." lines of an HTML description (HF-style feeds).

    Returns "authors", "upvotes" and "abstract" (possibly empty). Unlabelled lines after
    "Summary:" continue it; without that label the unlabelled lines are the abstract.
    """
    fields = {"authors": "", "upvotes": ""}
    rest: list[str] = []
    current = None
    for line in filter(None, map(clean_text, body.split("\n"))):
        match = _LABEL.match(line)
        if match:
            current = _LABELS[match.group("label").lower()]
            fields[current] = match.group("value")
        elif current == "abstract":
            fields["abstract"] += " " + line
        else:
            rest.append(line)
    fields.setdefault("abstract", " ".join(rest))
    return fields


def _authors(entry: dict, split: bool) -> tuple[str, ...]:
    names = [a.get("name") for a in entry.get("authors") or [] if isinstance(a, dict)]
    # A name may come as HTML links to author searches (the legacy arXiv RSS dc:creator).
    names = [clean_text(html_to_text(n) if "<" in n else n) for n in names if isinstance(n, str)]
    # arXiv RSS packs every author into one dc:creator; elsewhere only ";" is a safe separator
    # ("Smith, J." is one name).
    if split:
        return _split_authors(", ".join(names))
    if len(names) == 1 and ";" in names[0]:
        names = names[0].split(";")
    return without_et_al(names)


def _split_authors(value: str) -> tuple[str, ...]:
    """"A, B, and C" / "A and B" / "A; B" -> names (arXiv RSS, HF-style "Authors:" lines)."""
    return without_et_al(_AUTHOR_SPLIT.split(clean_text(value)))


def _doi(entry: dict, hrefs: list[str]) -> str | None:
    in_links = [match.group(1) for match in map(_DOI_URL.search, hrefs) if match]
    for raw in [entry.get("arxiv_doi"), entry.get("prism_doi"), *in_links]:
        doi = clean_text(raw).split(" ")[0]  # arXiv may list several DOIs; keep the first
        if doi.startswith("10."):
            return doi
    return None


def _links(entry: dict, arxiv_id: str | None, from_hf: bool) -> dict[str, str]:
    links = arxiv_links(arxiv_id, hf=from_hf) if arxiv_id else {}
    feed_links = [link for link in entry.get("links") or [] if isinstance(link, dict)]
    comment = clean_text(entry.get("arxiv_comment"))  # arXiv API: "Code: https://github.com/..."
    urls = [link.get("href") for link in feed_links] + re.findall(r"https?://[^\s,;]+", comment)
    for url in filter(None, map(http_url, urls)):
        if re.match(r"https?://(www\.)?github\.com/[^/]+/[^/]+", url):
            links.setdefault("code", url.rstrip(".)"))
    project = re.search(r"project\s*page\s*:?\s*(https?://[^\s,;]+)", comment, re.I)
    if project and http_url(project.group(1)):
        links["project"] = project.group(1).rstrip(".)")
    if not arxiv_id:
        for link in feed_links:
            url = http_url(link.get("href"))
            if url and ("pdf" in str(link.get("type")) or link.get("title") == "pdf"):
                links.setdefault("pdf", url)
        main = http_url(entry.get("link"))
        if main:
            links.setdefault("link", main)  # a non-arXiv landing page; "abs" means arXiv's
    return links


def _local_date(raw: object, parsed: object = None) -> date | None:
    """The calendar date a timestamp names in its own time zone (not shifted to UTC).

    Falls back to feedparser's UTC `*_parsed` tuple for formats the stdlib cannot read.
    """
    if isinstance(raw, str) and raw.strip():
        for reader in (parsedate_to_datetime, datetime.fromisoformat):
            try:
                return reader(raw.strip()).date()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
    try:
        return date(*parsed[:3])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _looks_like(data: bytes) -> str:
    """What non-feed bytes seem to be, for the error message."""
    head = data[:1024]
    if sum(b < 9 or 13 < b < 32 for b in head) * 20 > len(head):
        return "looks like binary data"
    sample = data[:4096].decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if sample[:1] in ("{", "["):
        return "looks like JSON"
    root = re.search(r"<([A-Za-z][\w.:-]{0,40})", sample)
    if root is None:
        return "no XML markup found"
    name = root.group(1).lower().rpartition(":")[2]
    if name in {"html", "head", "body", "div", "p"} or re.search(r"<!doctype\s+html", sample, re.I):
        return "looks like an HTML page"
    return "looks like an SVG image" if name == "svg" else f"the root element is <{name}>"


def _one_line(err: object) -> str:
    return clean_text(str(err))[:200] or type(err).__name__
