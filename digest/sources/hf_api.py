"""Parse the Hugging Face `/api/daily_papers` JSON into `Paper`s.

`parse(data)` is pure: bytes in, `ParsedSnapshot` out, no I/O; any unusable input raises
`SnapshotError` and nothing else. The response is a JSON array of items shaped like
`{"paper": {"id": <arXiv id>, "title", "summary", "authors": [{"name"}], "upvotes",
"publishedAt", "submittedOnDailyAt", "organization", "githubRepo", "projectPage"}, "title",
"summary", "publishedAt", ...}`; the top-level fields are fallbacks for the paper's.
HF text is plain (abstracts say "<SEG> token"), so it is never treated as HTML.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from digest.errors import SnapshotError, not_utf8
from digest.models import Paper, ParsedSnapshot
from digest.sources.feed import repeat_warnings
from digest.sources.fields import (
    arxiv_links,
    clean_text,
    find_arxiv_id,
    http_url,
    normalize_arxiv_id,
    without_et_al,
)

FORMAT = "hf-api"
# Keys under which a wrapped response may hold the item list.
_WRAPPERS = ("papers", "dailyPapers", "daily_papers", "items")
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
               float: "a number", bool: "a boolean", type(None): "null"}


def parse(data: bytes) -> ParsedSnapshot:
    """Parse an HF daily_papers response into papers in listing order.

    Raises SnapshotError, and nothing else, for empty input, invalid JSON (with `line`),
    JSON of another shape, and a non-empty response in which no item is usable. Items
    without a title are skipped with a warning; an empty array is a valid empty listing.
    A repeat of an arXiv id is kept, with a warning, for the diff to merge into the first
    (`digest.diff.dedupe`), so the fuller copy is never lost. A response cut off inside its
    array (a download or a save that stopped early) gives its complete items, with a warning.
    `listing_day` is the latest `paper.submittedOnDailyAt` date (UTC) among the papers.
    """
    doc, warnings = _load(data)
    items = _items(doc)
    papers: list[Paper] = []
    seen: dict[str, int] = {}
    repeats: list[tuple[int, str, int]] = []
    for number, item in enumerate(items, 1):
        paper = _paper(item)
        if isinstance(paper, str):
            warnings.append(f"item {number}: {paper}, skipped")
            continue
        if paper.arxiv_id in seen:
            repeats.append((number, paper.arxiv_id, seen[paper.arxiv_id]))
        elif paper.arxiv_id:
            seen[paper.arxiv_id] = number
        papers.append(paper)
    warnings.extend(repeat_warnings("item", repeats))
    if items and not papers:
        raise SnapshotError(f"no usable papers in {len(items)} items ({warnings[0]})")
    days = [p.listing_day for p in papers if p.listing_day]
    return ParsedSnapshot(format=FORMAT, papers=papers, listing_day=max(days, default=None), warnings=warnings)


def _load(data: bytes) -> tuple[object, list[str]]:
    """The decoded document and any warnings (a cut-off array gives its complete items)."""
    if not data.strip():
        raise SnapshotError("empty input")
    try:
        return json.loads(data), []
    except json.JSONDecodeError as err:
        lines = _json_lines(err)
        if lines is not None:
            return lines, []
        complete = _complete_items(err)
        if complete:
            kept = f"{len(complete)} complete item{'s' if len(complete) != 1 else ''}"
            return complete, [f"the response is cut off in item {len(complete) + 1} (line {err.lineno}); "
                              f"kept the {kept} before it"]
        raise SnapshotError(f"invalid JSON: {err.msg} (column {err.colno})", line=err.lineno) from None
    except UnicodeDecodeError as err:
        message, line = not_utf8(data, err)
        raise SnapshotError(f"invalid JSON: {message}", line=line) from None
    except (ValueError, RecursionError) as err:  # e.g. nesting too deep, a 5000-digit number
        raise SnapshotError(f"invalid JSON: {clean_text(str(err))[:200] or type(err).__name__}") from None


def _json_lines(err: json.JSONDecodeError) -> list | None:
    """The objects of a JSON Lines file (one item per line, as dataset dumps store papers), else None."""
    if not err.msg.startswith("Extra data"):
        return None
    items = []
    for line in err.doc.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return None
        if not isinstance(item, dict):
            return None
        items.append(item)
    return items


def _complete_items(err: json.JSONDecodeError) -> list:
    """The whole items of a top-level array that the text stops inside, else [].

    Only an error at the very end of the text (or a string running to it) counts as a cut:
    bad JSON in the middle of a response is still refused.
    """
    text = err.doc
    if not (err.msg.startswith("Unterminated string") or err.pos >= len(text.rstrip())):
        return []
    start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    if text[start:start + 1] != "[":
        return []
    decoder, items, pos = json.JSONDecoder(), [], start + 1
    while True:
        try:
            item, pos = decoder.raw_decode(text, _skip_space(text, pos))
        except (json.JSONDecodeError, RecursionError):
            return items
        items.append(item)
        pos = _skip_space(text, pos)
        if text[pos:pos + 1] != ",":
            return items
        pos += 1


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _items(doc: object) -> list:
    """The item list of a response: a bare array, a {"papers": [...]} wrapper or one item."""
    if isinstance(doc, dict):
        wrapped = next((doc[k] for k in _WRAPPERS if isinstance(doc.get(k), list)), None)
        if wrapped is not None:
            doc = wrapped
        elif isinstance(doc.get("paper"), dict) or isinstance(doc.get("title"), str):
            doc = [doc]  # one item, or one paper (/api/papers/<id>)
        elif isinstance(doc.get("error"), str) and len(doc) <= 3:
            raise SnapshotError(f"the Hugging Face API answered with an error, not papers: {clean_text(doc['error'])[:200]}")
        else:
            keys = ", ".join(sorted(map(str, doc))[:5]) or "no keys"
            raise SnapshotError(f"not an HF daily_papers response: a JSON object with {keys}")
    if not isinstance(doc, list):
        got = _JSON_TYPES.get(type(doc), "something else")
        raise SnapshotError(f"not an HF daily_papers response: expected a JSON array, got {got}")
    if doc and not any(_is_item(item) for item in doc):
        raise SnapshotError('not an HF daily_papers response: no item has a "paper" object or a title')
    return doc


def _is_item(item: object) -> bool:
    return isinstance(item, dict) and (isinstance(item.get("paper"), dict) or "title" in item)


def _paper(item: object) -> Paper | str:
    """The item as a Paper, or why it cannot be one."""
    if not isinstance(item, dict):
        return f"not an object but {_JSON_TYPES.get(type(item), 'a value')}"
    # Without a "paper" object the item is the paper itself (/api/papers/<id>, JSON Lines dumps).
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    title = clean_text(paper.get("title")) or clean_text(item.get("title"))
    if not title:
        return "no title"
    arxiv_id = normalize_arxiv_id(paper.get("id")) or find_arxiv_id(paper.get("id"))
    authors = _authors(paper.get("authors"))
    links = arxiv_links(arxiv_id, hf=True) if arxiv_id else {}
    for kind, key in (("code", "githubRepo"), ("project", "projectPage")):
        url = http_url(paper.get(key))
        if url:
            links[kind] = url
    upvotes = paper.get("upvotes")
    upvotes = int(upvotes) if isinstance(upvotes, str) and upvotes.strip().isdecimal() else upvotes
    return Paper(
        title=title,
        abstract=clean_text(paper.get("summary")) or clean_text(item.get("summary")),
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) or None,
        organization=_organization(paper.get("organization") or item.get("organization")),
        published=_utc_date(paper.get("publishedAt")) or _utc_date(item.get("publishedAt")),
        # Older responses lack submittedOnDailyAt; their top-level publishedAt was the listing time.
        listing_day=_utc_date(paper.get("submittedOnDailyAt")) or _utc_date(item.get("publishedAt")),
        upvotes=upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) and upvotes >= 0 else None,
        links=links,
    )


def _authors(raw: object) -> tuple[str, ...]:
    """Author names in order; `hidden` authors are kept (they are still authors), empty names dropped."""
    if not isinstance(raw, list):
        return ()
    names = [_author_name(a) for a in raw]
    return without_et_al(name for name in names if name)


def _author_name(author: object) -> str:
    """An author entry's name, else its linked HF user's full name; a bare string is the name."""
    if not isinstance(author, dict):
        return clean_text(author)
    user = author.get("user") if isinstance(author.get("user"), dict) else {}
    return clean_text(author.get("name")) or clean_text(user.get("fullname"))


def _organization(raw: object) -> str | None:
    if isinstance(raw, dict):
        return clean_text(raw.get("fullname")) or clean_text(raw.get("name")) or None
    return clean_text(raw) or None


def _utc_date(raw: object) -> date | None:
    """The UTC calendar date of an ISO timestamp ("2026-07-31T00:00:00.000Z"), else None."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
        return moment.astimezone(timezone.utc).date() if moment.tzinfo else moment.date()
    except (ValueError, OverflowError):
        return None
