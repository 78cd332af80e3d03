"""The saved text of the Hugging Face "Daily Papers" page.

People save the page in several layouts: title and abstract lines alternating with no
blank lines, blank-line separated blocks, and blocks followed by metadata ("• 5 authors"
or an organisation line, "·", "Dec 8, 2024" and an optional upvote count). The page chrome
("new", "Get trending papers...", "Subscribe" — sometimes glued to the first title —,
"Daily Papers", "byAK and the research community", the listing day) is dropped.

The parser reads structure, not fixed line numbers: after the chrome, a paper is a title
line followed by its abstract (an abstract-length line), then optional metadata lines
(`hf_page_meta`). Papers are anchored on their abstracts, so a line no known layout has
("Submitted by", a name, an upvote count on its own line) never becomes a paper and never
hides the title after it: such lines are left out and named in one warning. A listing of
titles with no abstracts is refused rather than read as papers. It never raises anything
but SnapshotError, whatever the text.

No paper with a title and an abstract is ever dropped by a guess. Where the layout is
ambiguous the reading that keeps a paper wins: a line that spells a chrome word ("Next",
"Search") or a number ("1984") is a title when its abstract follows it (not when a title
with its own abstract does: "3", a long title, its abstract), and a last paper that may have been cut off by the save (no final newline, the abstract
ending mid-sentence or in a link) is kept and named in a warning; a later snapshot with
the full abstract updates it (see `digest.diff.changes`). Only text that does not read as
a listing is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from digest.errors import SnapshotError, not_utf8
from digest.models import ParsedSnapshot
from digest.sources.fields import drop_invisible
from digest.sources.hf_page_meta import (
    AUTHOR_COUNT,
    DATE,
    ISO_DATE,
    SEPARATORS,
    SUBMITTED,
    UPVOTES,
    Draft,
    author_names,
    safe_date,
    take_metadata,
    to_date,
)
from digest.sources.hf_page_wrap import unwrap

# Over 400 lines on purpose: deciding what is a paper (a title, its abstract) and what is not
# (chrome, metadata, unexplained lines) is one reading of one page, and its rules refer to
# each other. What a metadata line says is in hf_page_meta, unwrapping in hf_page_wrap.
FORMAT = "hf-page"

# Punctuation and arrows around a chrome word ("← Previous", "Next →", "Subscribe!").
_CHROME_EDGES = " !.:;,|<>«»‹›←→↑↓⟵⟶❮❯▲△▼▽-–—"
# Chrome no paper is titled; the other chrome words ("Next", "Search") are titles when an
# abstract follows them. Lines are compared case-insensitively without trailing punctuation.
_SITE_CHROME = {
    "new",
    "get trending papers in your email inbox once a day",
    "get trending papers in your email inbox",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "by ak and the research community",
    "daily papers by ak and the research community",
    "daily papers byak and the research community",
    "hugging face's logo",
}
# Every line of page chrome.
_CHROME = _SITE_CHROME | {
    "papers",
    "trending papers",
    "previous",
    "next",
    "daily",
    "weekly",
    "monthly",
    "submit",
    "submit a paper",
    "search",
    # The site's navigation bar and footer, when the whole page was selected and copied.
    "hugging face", "models", "datasets", "spaces", "community", "posts", "docs", "enterprise", "pricing",
    "solutions", "log in", "login", "sign up", "system theme", "company", "tos", "privacy", "about", "jobs",
    "careers", "website", "resources", "learn", "forum", "blog", "status", "changelog",
}
# Headings some saves put above an abstract, alone on a line or glued to it ("Abstract: We ...").
_LABELS = {"abstract", "summary", "ai-generated summary", "ai summary", "tl;dr", "tldr"}
_LABEL = re.compile(r"^(?:abstract|summary|ai-generated summary|tl;dr)\s*[:.]\s+(?=\S)", re.IGNORECASE)
# Chrome that can be glued to the start of the first title when the text is copied.
_GLUED_CHROME = ("Subscribe", "Daily Papers", "byAK and the research community")
_MARKERS = ("daily papers", "get trending papers", "byak and the research community")
_MAX_TITLE = 400
# An abstract is at least this long (real ones run 500-2,000 characters); a line this long
# after a title-like line makes that line a title.
_MIN_ABSTRACT = 80
_LONGEST_TITLE = 250  # the longest of the 12,491 titles in the July 2026 arXiv corpus has 233 characters
_TERMINAL = tuple(".!?)]}\"'”’")


@dataclass(slots=True)
class _Header:
    listing_day: date | None = None
    chrome_seen: bool = False
    body_start: int = 0
    first_line: str | None = None


@dataclass(slots=True)
class _State:
    today: date
    ends_cleanly: bool = True
    drafts: list[Draft] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Lines read as neither a paper, its metadata nor chrome: (line number, text).
    strays: list[tuple[int, str]] = field(default_factory=list)
    after_abstract: bool = False
    names_layout: bool = False  # a names line sits between each title and its abstract
    names_read: int = 0  # papers read with a names line between title and abstract


def decode(data: bytes) -> str:
    """Bytes as text: UTF-8 with or without BOM; binary data is refused."""
    if b"\x00" in data[:65536]:
        raise SnapshotError("binary data, not a text snapshot")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        message, line = not_utf8(data, err)
        raise SnapshotError(message, line=line) from None


def looks_like_hf_page(text: str) -> bool:
    """True when the first lines carry the page's own header (whatever spaces a save put in it)."""
    head = " ".join(drop_invisible(text[:4000]).split()).casefold()
    return any(marker in head for marker in _MARKERS)


def parse(data: bytes, *, today: date | None = None, strict: bool = False) -> ParsedSnapshot:
    """Papers of a saved HF Daily Papers page, in listing order.

    `today` anchors the listing day's year when the header gives only "Sep 25" (the latest
    such day not after `today`). `strict` (format auto-detected) refuses text without the
    page header. Raises SnapshotError for text that is not such a page.
    """
    text = decode(data)
    if not text.strip():
        raise SnapshotError("empty input")
    if strict and not looks_like_hf_page(text):
        raise SnapshotError("not a Hugging Face Daily Papers page (no 'Daily Papers' header); use --format hf-page to force")
    lines = unwrap(_lines(text))
    today = today or date.today()
    header = _read_header(lines, today)
    # Cleanly ended: the last visible character is followed by a line break.
    ends_cleanly = any(c in "\n\r" for c in text[len(text.rstrip()):])
    state = _State(today=header.listing_day or today, ends_cleanly=ends_cleanly)
    _read_body(lines, header, state)
    if state.strays and state.names_read * 2 >= len(state.drafts) >= 2:
        # Names between title and abstract on most papers: read again taking one name as names too.
        state = _State(today=header.listing_day or today, ends_cleanly=ends_cleanly, names_layout=True)
        _read_body(lines, header, state)
    _check_last(state)
    papers = [draft.paper(header.listing_day) for draft in state.drafts]
    _check_shape(state, header)
    return ParsedSnapshot(format=FORMAT, papers=papers, listing_day=header.listing_day, warnings=state.warnings)


def _lines(text: str) -> list[str]:
    """The text's lines, stripped, each whitespace run (tabs, NBSP, any Unicode space) one space."""
    if not text.isascii():
        text = drop_invisible(text)
    # Inline rather than a call per line: a 100k-paper page has a million lines. Only lines
    # with a double space, a tab or a non-ASCII character can hold a run to collapse.
    return [
        " ".join(line.split()) if ("  " in line or "\t" in line or not line.isascii()) else line
        for line in map(str.strip, text.splitlines())
    ]


def _chrome_key(line: str) -> str:
    return line.casefold().strip(_CHROME_EDGES)


def _is_chrome(line: str, following: str) -> bool:
    """True for a line of page chrome; a chrome word with an abstract after it is a title."""
    key = _chrome_key(line)
    return key in _CHROME and (key in _SITE_CHROME or not _abstract_follows(line, following))


def _read_header(lines: list[str], today: date) -> _Header:
    header = _Header()
    for number, line in enumerate(lines):
        if not line:
            continue
        if _chrome_key(line) in _CHROME and _is_chrome(line, _next_line(lines, number)):
            header.chrome_seen = True
            continue
        day = _listing_day(line, today)
        if day is not None and header.listing_day is None and not _upvotes_on(line):
            header.listing_day = day
            continue
        header.body_start = number
        header.first_line = _unglue(line, header)
        return header
    header.body_start = len(lines)
    return header


def _upvotes_on(line: str) -> bool:
    dated = DATE.match(line)
    return bool(dated and dated.group("upvotes"))


def _unglue(line: str, header: _Header) -> str:
    """'SubscribeOrder Theory...' -> 'Order Theory...' (the save glued chrome to a title)."""
    changed = True
    while changed:
        changed = False
        for chrome in _GLUED_CHROME:
            rest = line[len(chrome):]
            if line.startswith(chrome) and rest[:1].strip() and not rest[:1].islower():
                line, changed, header.chrome_seen = rest.strip(), True, True
    return line


def _listing_day(line: str, today: date) -> date | None:
    if iso := ISO_DATE.match(line):
        return safe_date(int(iso.group("year")), int(iso.group("month")), int(iso.group("day")))
    match = DATE.match(line)
    if not match:
        return None
    return to_date(match, today)


def _read_body(lines: list[str], header: _Header, state: _State) -> None:
    numbered = [(n + 1, line) for n, line in enumerate(lines[header.body_start:], start=header.body_start) if line]
    if numbered and header.first_line is not None:
        numbered[0] = (numbered[0][0], header.first_line)
    if any(line[:1] in "AaSsTt" and _chrome_key(line) in _LABELS for _, line in numbered):
        # "Abstract" above each abstract would read as a title: labels go before reading.
        numbered = [(n, line) for n, line in numbered if _chrome_key(line) not in _LABELS]
    index = 0
    while index < len(numbered):
        if _starts_paper(numbered, index, state.ends_cleanly):
            index = _read_paper(numbered, index, state)
        elif _names_between(numbered, index, state.names_layout):  # title, its authors' names, its abstract
            index = _read_paper(numbered, index, state, names=numbered[index + 1][1])
        else:
            index = _read_other(numbered, index, state)
    _report_strays(state, numbered)


def _next_line(lines: list[str], number: int) -> str:
    """The next non-blank line after lines[number] ("" at the end)."""
    return next((line for line in lines[number + 1:number + 50] if line), "")


def _following(numbered: list[tuple[int, str]], index: int) -> str:
    return numbered[index + 1][1] if index + 1 < len(numbered) else ""


def _abstract_follows(line: str, following: str) -> bool:
    """True when `following` reads as the abstract of `line`, making `line` a title.

    An abstract is prose: longer than any title, or it ends a sentence with a full stop or has
    more than one sentence. A title never does (none of the July 2026 arXiv corpus ends with a
    full stop), so in a list of titles a long title does not pass for the abstract of the one
    before it.
    """
    return (len(following) >= _MIN_ABSTRACT and len(following) > len(line) and following not in SEPARATORS
            and (len(following) > _LONGEST_TITLE or following.endswith(".") or ". " in following))


def _is_title_of(line: str, following: str) -> bool:
    """`line` as a title with `following` its abstract. Titles never end with a full stop
    (none of the 12,491 in the July 2026 arXiv corpus does); abstracts almost always do."""
    return len(line) <= _MAX_TITLE and not line.endswith(".") and _abstract_follows(line, following)


def _starts_paper(numbered: list[tuple[int, str]], index: int, ends_cleanly: bool) -> bool:
    """True when the line is a paper's title: its abstract follows.

    A paper is anchored on its abstract, so a line no layout explains (an upvote count on
    its own line, "Submitted by", a name) never becomes a paper, and the title after it is
    not lost. When the next line is itself a title with its abstract after it ("3", a long
    title, its abstract), the next line starts the paper; "1984" followed by an abstract
    that ends in a full stop is a title. The last two lines of a text that stops without a
    final newline are a title and an abstract the save cut short, however short.
    """
    line = numbered[index][1]
    if len(line) > _MAX_TITLE or _chrome_key(line) in _SITE_CHROME or _never_a_title(line):
        return False
    following = _following(numbered, index)
    if UPVOTES.match(line) and not (following.endswith(".") or len(following) > _MAX_TITLE):
        return False  # an upvote count before a title, unless what follows is plainly an abstract
    if index + 2 >= len(numbered):
        # A cut abstract has begun a sentence: "Pricing" then "Docs" is a footer, not a paper.
        cut = (len(following.split()) >= 3 and not ends_cleanly and not _metadata_shaped(line)
               and not _metadata_shaped(following))
        return _abstract_follows(line, following) or cut
    return _abstract_follows(line, following) and not _is_title_of(following, numbered[index + 2][1])


def _never_a_title(line: str) -> bool:
    """A separator, an author count, a date or a "Submitted by" line: metadata in every layout."""
    return (line in SEPARATORS or AUTHOR_COUNT.match(line) is not None or SUBMITTED.match(line) is not None
            or (line[:1].isalpha() and DATE.match(line) is not None))


def _metadata_shaped(line: str) -> bool:
    return _never_a_title(line) or UPVOTES.match(line) is not None or _chrome_key(line) in _CHROME


def _read_paper(numbered: list[tuple[int, str]], index: int, state: _State, names: str = "") -> int:
    number, title = numbered[index]
    after = index + 2 if not names else index + 3
    authors = author_names(names, True)
    state.names_read += bool(names)
    draft = Draft(title=title, line=number, abstract=_LABEL.sub("", numbered[after - 1][1]), authors=authors)
    state.drafts.append(draft)
    state.after_abstract = True
    return after


def _names_between(numbered: list[tuple[int, str]], index: int, one_name: bool) -> bool:
    if index + 2 >= len(numbered):
        return False
    line, names, abstract = numbered[index][1], numbered[index + 1][1], numbered[index + 2][1]
    # Cheapest tests first: most lines asked about are metadata or abstracts.
    return ((one_name or "," in names or "al" in names) and _abstract_follows(line, abstract)
            and not line.endswith(".") and " · " not in line and line[0] not in "•·"
            and author_names(names, one_name) != () and not _metadata_shaped(line))


def _read_other(numbered: list[tuple[int, str]], index: int, state: _State) -> int:
    """A line that starts no paper: chrome, a paragraph, metadata, or a stray; returns the next index."""
    number, line = numbered[index]
    draft = state.drafts[-1] if state.drafts else None
    after_abstract, state.after_abstract = state.after_abstract, False
    if _chrome_key(line) in _CHROME:
        return index + 1
    paragraph = len(line) > _MAX_TITLE or (after_abstract and len(line) >= _MIN_ABSTRACT and line.endswith(_TERMINAL))
    if draft is not None and paragraph and not line.startswith("•"):  # "• " starts an author list
        # A second abstract paragraph: no title is this long, or it carries the abstract on.
        draft.abstract += "\n\n" + line
        state.after_abstract = True
        return index + 1
    if (submitted := SUBMITTED.match(line)) is not None:
        # "Submitted by" and the submitter's name, on one line or two.
        following = _following(numbered, index)
        two_lines = not submitted.group("name") and following and len(following) <= 60
        return index + (2 if two_lines and not _starts_paper(numbered, index + 1, state.ends_cleanly) else 1)
    if draft is not None and take_metadata(numbered, index, draft, state.today):
        draft.meta_lines += 1
        return index + 1
    if draft is None and (DATE.match(line) or ISO_DATE.match(line)):
        return index + 1  # the header's links to the days before and after
    state.strays.append((number, line))
    return index + 1


def _check_last(state: _State) -> None:
    """Flag a last paper the save may have cut off.

    A title with an abstract is always kept: an abstract may end in a link, a digit or a
    parenthesis, so "no final newline and no full stop" only earns a warning. A later
    snapshot with the whole abstract updates the stored one.
    """
    if not state.drafts:
        return
    last = state.drafts[-1]
    after = state.strays and state.strays[-1][0] > last.line
    if not state.ends_cleanly and not after and last.meta_lines == 0 and not last.abstract.endswith(_TERMINAL):
        state.warnings.append(
            f"line {last.line}: last paper {_short(last.title)!r} may be cut off (the text stops at "
            f"'...{last.abstract[-30:]}' with no final newline); kept: a later snapshot with the full abstract updates it"
        )


def _report_strays(state: _State, numbered: list[tuple[int, str]]) -> None:
    """Name every line that was not read, so nothing leaves the page unseen.

    A last line with no abstract after it is a title the save cut off; other strays are
    lines no layout explains (a submitter's name, a button's label).
    """
    strays = state.strays
    if strays and numbered and strays[-1][0] == numbered[-1][0] and not _metadata_shaped(strays[-1][1]):
        number, title = strays.pop()
        state.warnings.append(f"line {number}: last paper {_short(title)!r} has no abstract (cut off?); skipped")
    if strays:
        shown = ", ".join(f"line {number} {_short(line)!r}" for number, line in strays[:5])
        more = f" and {len(strays) - 5} more" if len(strays) > 5 else ""
        state.warnings.insert(0, f"{len(strays)} line{'s' if len(strays) != 1 else ''} read as neither a paper "
                                 f"(a title followed by its abstract) nor its metadata, left out: {shown}{more}")


def _short(title: str) -> str:
    return title if len(title) <= 60 else title[:57] + "..."


def _looks_like_paper(draft: Draft) -> bool:
    return len(draft.title) <= _MAX_TITLE and len(draft.abstract) >= _MIN_ABSTRACT and len(draft.abstract) > len(draft.title)


def _check_shape(state: _State, header: _Header) -> None:
    """Refuse text that does not read as a listing (a different page, prose, a table, titles without abstracts)."""
    drafts = state.drafts
    if not drafts:
        if state.strays:
            raise SnapshotError(f"does not look like a Daily Papers listing (line {state.strays[0][0]}: expected a "
                                "title followed by its abstract)")
        if header.chrome_seen:
            return  # the page header with no papers: an empty day
        raise SnapshotError("no papers found in the text")
    if len(state.strays) > 3 * len(drafts) + 5:
        # Far more lines unexplained than papers found: the few "papers" are chance pairs of lines.
        raise SnapshotError(f"does not look like a Daily Papers listing ({len(state.strays)} lines, from line "
                            f"{state.strays[0][0]}, are not a title followed by its abstract)")
    odd = [draft for draft in drafts if not _looks_like_paper(draft)]
    if len(odd) > 0.3 * len(drafts):
        raise SnapshotError(
            f"does not look like a Daily Papers listing (line {odd[0].line}: expected a title followed by its abstract)"
        )
