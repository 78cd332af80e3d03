"""The saved text of the Hugging Face "Daily Papers" page.

People save the page in several layouts: title and abstract lines alternating with no
blank lines, blank-line separated blocks, and blocks followed by metadata ("• 5 authors"
or an organisation line, "·", "Dec 8, 2024" and an optional upvote count). The page chrome
("new", "Get trending papers...", "Subscribe" — sometimes glued to the first title —,
"Daily Papers", "byAK and the research community", the listing day) is dropped.

The parser reads structure, not fixed line numbers: after the chrome, a paper is a title
line, an abstract line and optional metadata lines. It never raises anything but
SnapshotError, whatever the text.

No paper with a title and an abstract is ever dropped by a guess. Where the layout is
ambiguous the reading that keeps a paper wins: a line that spells a chrome word ("Next",
"Search") or an upvote count ("1984") is a title when an abstract-length line follows it,
and a last paper that may have been cut off by the save (no final newline, the abstract
ending mid-sentence or in a link) is kept and named in a warning; a later snapshot with
the full abstract updates it (see `digest.diff.changes`). Only text that does not read as
a listing is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote_plus

from digest.errors import SnapshotError
from digest.models import Paper, ParsedSnapshot

FORMAT = "hf-page"
HF_SEARCH = "https://huggingface.co/papers?q="

_MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_DATE = re.compile(rf"^{_MONTH}\s+(?P<day>\d{{1,2}})(?:,?\s+(?P<year>\d{{4}}))?(?:\s*[·•]?\s*(?P<upvotes>\d+))?$")
_AUTHOR_COUNT = re.compile(r"^[•·*-]?\s*(?P<count>\d+)\s+authors?$", re.IGNORECASE)
_BULLET_AUTHORS = re.compile(r"^[•]\s*(?P<names>\S.*)$")
_SEPARATORS = {"·", "•", "|"}
_UPVOTES = re.compile(r"^\d{1,7}$")
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
}
# Chrome that can be glued to the start of the first title when the text is copied.
_GLUED_CHROME = ("Subscribe", "Daily Papers", "byAK and the research community")
_MARKERS = ("daily papers", "get trending papers", "byak and the research community")
_MAX_TITLE = 400
# An abstract is at least this long (real ones run 500-2,000 characters); a line this long
# after a title-like line makes that line a title.
_MIN_ABSTRACT = 80
_TERMINAL = tuple(".!?)]}\"'”’")
# Invisible characters a save or a copy can leave inside lines: BOMs of concatenated files,
# zero-width spaces and joiners. They would hide chrome words and split titles.
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)


@dataclass(slots=True)
class _Draft:
    title: str
    line: int
    abstract: str = ""
    author_count: int | None = None
    authors: tuple[str, ...] = ()
    organization: str | None = None
    published: date | None = None
    upvotes: int | None = None
    meta_lines: int = 0

    def paper(self, listing_day: date | None) -> Paper:
        return Paper(
            # The saved page text has no links; HF's search by title finds the paper page.
            links={"hf": f"{HF_SEARCH}{quote_plus(self.title)}"},
            title=self.title,
            abstract=self.abstract,
            authors=self.authors,
            author_count=self.author_count,
            organization=self.organization,
            published=self.published,
            listing_day=listing_day,
            upvotes=self.upvotes,
        )


@dataclass(slots=True)
class _Header:
    listing_day: date | None = None
    chrome_seen: bool = False
    body_start: int = 0
    first_line: str | None = None


@dataclass(slots=True)
class _State:
    today: date
    drafts: list[_Draft] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def decode(data: bytes) -> str:
    """Bytes as text: UTF-8 with or without BOM; binary data is refused."""
    if b"\x00" in data[:65536]:
        raise SnapshotError("binary data, not a text snapshot")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SnapshotError(f"not UTF-8 text (bad byte at offset {err.start})") from None


def looks_like_hf_page(text: str) -> bool:
    """True when the first lines carry the page's own header (whatever spaces a save put in it)."""
    head = " ".join(text[:4000].translate(_INVISIBLE).split()).casefold()
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
    lines = _lines(text)
    today = today or date.today()
    header = _read_header(lines, today)
    state = _State(today=header.listing_day or today)
    _read_body(lines, header, state)
    # Cleanly ended: the last visible character is followed by a line break.
    _check_last(state, ends_cleanly=any(c in "\n\r" for c in text[len(text.rstrip()):]))
    papers = [draft.paper(header.listing_day) for draft in state.drafts]
    _check_shape(state.drafts, header)
    return ParsedSnapshot(format=FORMAT, papers=papers, listing_day=header.listing_day, warnings=state.warnings)


def _lines(text: str) -> list[str]:
    """The text's lines, stripped, each whitespace run (tabs, NBSP, any Unicode space) one space."""
    if not text.isascii():
        text = text.translate(_INVISIBLE)
    # Inline rather than a call per line: a 100k-paper page has a million lines. Only lines
    # with a double space, a tab or a non-ASCII character can hold a run to collapse.
    return [
        " ".join(line.split()) if ("  " in line or "\t" in line or not line.isascii()) else line
        for line in map(str.strip, text.splitlines())
    ]


def _chrome_key(line: str) -> str:
    return line.casefold().rstrip("!.:").strip()


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
        if day is not None and header.listing_day is None and not _DATE.match(line).group("upvotes"):
            header.listing_day = day
            continue
        header.body_start = number
        header.first_line = _unglue(line, header)
        return header
    header.body_start = len(lines)
    return header


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
    match = _DATE.match(line)
    if not match:
        return None
    return _to_date(match, today)


def _to_date(match: re.Match[str], today: date) -> date | None:
    """The date a listing line names; without a year, the latest such day not after today."""
    month = _MONTHS.get(match.group("month").casefold())
    if month is None:
        return None
    day = int(match.group("day"))
    if match.group("year"):
        return _safe_date(int(match.group("year")), month, day)
    latest = date.fromordinal(today.toordinal() + 1)  # a day of slack for time zones
    for year in range(latest.year, latest.year - 8, -1):
        found = _safe_date(year, month, day)
        if found is not None and found <= latest:
            return found
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _read_body(lines: list[str], header: _Header, state: _State) -> None:
    numbered = [(n + 1, line) for n, line in enumerate(lines[header.body_start:], start=header.body_start) if line]
    if numbered and header.first_line is not None:
        numbered[0] = (numbered[0][0], header.first_line)
    index = 0
    while index < len(numbered):
        line = numbered[index][1]
        if _chrome_key(line) in _CHROME and _is_chrome(line, _following(numbered, index)):
            index += 1
            continue
        index = _read_paper(numbered, index, state)


def _next_line(lines: list[str], number: int) -> str:
    """The next non-blank line after lines[number] ("" at the end)."""
    return next((line for line in lines[number + 1:number + 50] if line), "")


def _following(numbered: list[tuple[int, str]], index: int) -> str:
    return numbered[index + 1][1] if index + 1 < len(numbered) else ""


def _abstract_follows(line: str, following: str) -> bool:
    """True when `following` reads as the abstract of `line`, making `line` a title."""
    return len(following) >= _MIN_ABSTRACT and len(following) > len(line) and following not in _SEPARATORS


def _read_paper(numbered: list[tuple[int, str]], index: int, state: _State) -> int:
    number, title = numbered[index]
    if len(title) > _MAX_TITLE and state.drafts and state.drafts[-1].abstract:
        # A second abstract paragraph, not a title: no title is this long.
        state.drafts[-1].abstract += "\n\n" + title
        return index + 1
    draft = _Draft(title=title, line=number)
    state.drafts.append(draft)
    index += 1
    if index < len(numbered) and not _is_metadata(numbered, index):
        draft.abstract = numbered[index][1]
        index += 1
    return _read_metadata(numbered, index, draft, state.today)


def _is_metadata(numbered: list[tuple[int, str]], index: int) -> bool:
    line = numbered[index][1]
    if line in _SEPARATORS or _AUTHOR_COUNT.match(line) or _DATE.match(line):
        return True
    return _following(numbered, index) in _SEPARATORS and len(line) <= 120


def _read_metadata(numbered: list[tuple[int, str]], index: int, draft: _Draft, today: date) -> int:
    """Consume the metadata lines after an abstract; returns the index of the next paper."""
    while index < len(numbered) and _take_metadata(numbered, index, draft, today):
        draft.meta_lines += 1
        index += 1
    return index


def _take_metadata(numbered: list[tuple[int, str]], index: int, draft: _Draft, today: date) -> bool:
    line = numbered[index][1]
    if line in _SEPARATORS:
        return True
    # Dispatch on the first character: most lines reaching here are the next title, and
    # they should not pay for every pattern.
    first = line[0]
    following = _following(numbered, index)
    if first in "•·*-" or first.isdigit():
        # "1984" followed by an abstract is the next paper's title, not an upvote count.
        return not _abstract_follows(line, following) and _take_count_or_upvotes(line, draft)
    if first.isalpha() and line[:3].casefold() in _MONTHS and draft.published is None:
        if (dated := _DATE.match(line)) and (day := _to_date(dated, today)):
            draft.published = day
            if dated.group("upvotes"):
                draft.upvotes = int(dated.group("upvotes"))
            return True
    if following in _SEPARATORS and len(line) <= 120 and draft.meta_lines == 0:
        draft.organization = _organization(line)
        return True
    return False


def _take_count_or_upvotes(line: str, draft: _Draft) -> bool:
    if count := _AUTHOR_COUNT.match(line):
        draft.author_count = int(count.group("count"))
    elif _UPVOTES.match(line) and draft.published is not None and draft.upvotes is None:
        draft.upvotes = int(line)
    elif (names := _BULLET_AUTHORS.match(line)) and len(line) <= 300:
        draft.authors = tuple(n.strip() for n in names.group("names").split(",") if n.strip())
    else:
        return False
    return True


def _organization(line: str) -> str:
    """'parameterlab Parameter Lab' -> 'Parameter Lab' (HF shows the org slug, then its name)."""
    slug, _, name = line.partition(" ")
    if name and slug.casefold() == "".join(name.split()).casefold():
        return name
    return line


def _check_last(state: _State, *, ends_cleanly: bool) -> None:
    """Flag a last paper the save may have cut off; drop one that has no abstract at all.

    A title with an abstract is always kept: an abstract may end in a link, a digit or a
    parenthesis, so "no final newline and no full stop" only earns a warning. A later
    snapshot with the whole abstract updates the stored one.
    """
    if not state.drafts:
        return
    last = state.drafts[-1]
    if not last.abstract and last.meta_lines == 0:
        state.drafts.pop()
        state.warnings.append(f"line {last.line}: last paper {_short(last.title)!r} has no abstract (cut off?); skipped")
    elif not ends_cleanly and last.meta_lines == 0 and not last.abstract.endswith(_TERMINAL):
        state.warnings.append(
            f"line {last.line}: last paper {_short(last.title)!r} may be cut off (the text stops at "
            f"'...{last.abstract[-30:]}' with no final newline); kept: a later snapshot with the full abstract updates it"
        )


def _short(title: str) -> str:
    return title if len(title) <= 60 else title[:57] + "..."


def _looks_like_paper(draft: _Draft) -> bool:
    return len(draft.title) <= _MAX_TITLE and len(draft.abstract) >= _MIN_ABSTRACT and len(draft.abstract) > len(draft.title)


def _check_shape(drafts: list[_Draft], header: _Header) -> None:
    """Refuse text that does not read as a listing (a different page, prose, a table)."""
    if not drafts:
        if header.chrome_seen:
            return  # the page header with no papers: an empty day
        raise SnapshotError("no papers found in the text")
    odd = [draft for draft in drafts if not _looks_like_paper(draft)]
    if len(odd) > 0.3 * len(drafts):
        raise SnapshotError(
            f"does not look like a Daily Papers listing (line {odd[0].line}: expected a title followed by its abstract)"
        )
