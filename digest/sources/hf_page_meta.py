"""The metadata lines of a saved HF Daily Papers page, and the paper each one belongs to.

After a paper's abstract a page may show "• 5 authors" or an organisation line, "·", a date
("Dec 8, 2024", optionally with the upvote count) and an upvote count on its own line; some
saves put it all on one line ("• 5 authors · Jul 14, 2026 · 3"). Split out of `hf_page`,
which decides what is a paper; this module reads what a metadata line says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote_plus

from digest.models import Paper
from digest.sources.fields import without_et_al

HF_SEARCH = "https://huggingface.co/papers?q="

MONTHS = {
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
DATE = re.compile(rf"^{_MONTH}\s+(?P<day>\d{{1,2}})(?:,?\s+(?P<year>\d{{4}}))?(?:\s*[·•]?\s*(?P<upvotes>\d+))?$")
AUTHOR_COUNT = re.compile(r"^[•·*-]?\s*(?P<count>\d+)\s+authors?$", re.IGNORECASE)
BULLET_AUTHORS = re.compile(r"^[•]\s*(?P<names>\S.*)$")
SUBMITTED = re.compile(r"^submitted by\b:?\s*(?P<name>.*)$", re.IGNORECASE)
ISO_DATE = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})$")
SEPARATORS = {"·", "•", "|"}
UPVOTES = re.compile(r"^\d{1,7}$")
_NAME_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")
_ENDS_ET_AL = re.compile(r"\bet(?:\.\s*|\s+)al\b\.?$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[^\W\d_][\w'’.-]*")
_PARTICLES = {"de", "da", "di", "du", "del", "der", "den", "van", "von", "la", "le", "y", "bin", "al", "dos"}
_ON_DAY = re.compile(r"^(?:published|submitted) on:?\s+(?P<day>[A-Za-z].*)$", re.IGNORECASE)


@dataclass(slots=True)
class Draft:
    """A paper being read: its title and abstract, and what its metadata lines said."""

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


def to_date(match: re.Match[str], today: date) -> date | None:
    """The date a listing line names; without a year, the latest such day not after today."""
    month = MONTHS.get(match.group("month").casefold())
    if month is None:
        return None
    day = int(match.group("day"))
    if match.group("year"):
        return safe_date(int(match.group("year")), month, day)
    latest = date.fromordinal(today.toordinal() + 1)  # a day of slack for time zones
    for year in range(latest.year, latest.year - 8, -1):
        found = safe_date(year, month, day)
        if found is not None and found <= latest:
            return found
    return None


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _following(numbered: list[tuple[int, str]], index: int) -> str:
    return numbered[index + 1][1] if index + 1 < len(numbered) else ""


def take_metadata(numbered: list[tuple[int, str]], index: int, draft: Draft, today: date) -> bool:
    line = numbered[index][1]
    if line in SEPARATORS:
        return True
    following = _following(numbered, index)
    if "·" in line[1:] or " • " in line:
        # "• 5 authors · Jul 14, 2026 · 3": the metadata on one line, taken only if every part is.
        parts = [part for part in re.split(r"\s[·•]\s", " " + line + " ") if part.strip()]
        trial = Draft(title=draft.title, line=draft.line, published=draft.published, upvotes=draft.upvotes)
        if all(_take_line(part.strip(), "", trial, today) for part in parts):
            for name in ("author_count", "authors", "organization", "published", "upvotes"):
                if getattr(trial, name) not in (None, ()):
                    setattr(draft, name, getattr(trial, name))
            return True
        return False
    return _take_line(line, following, draft, today)


def _take_line(line: str, following: str, draft: Draft, today: date) -> bool:
    # Dispatch on the first character: most lines reaching here are the next title, and
    # they should not pay for every pattern.
    first = line[0]
    if first in "•·*-" or first.isdigit():
        return _take_count_or_upvotes(line, draft)
    if first in "PpSs" and (on := _ON_DAY.match(line)):
        line, first = on.group("day"), on.group("day")[0]  # "Published on Jul 14, 2026"
    dated = DATE.match(line) if first.isalpha() and line[:3].casefold() in MONTHS and draft.published is None else None
    if dated and (day := to_date(dated, today)):
        draft.published = day
        if dated.group("upvotes"):
            draft.upvotes = int(dated.group("upvotes"))
        return True
    if draft.meta_lines == 0 and len(line) <= 120 and (following in SEPARATORS or organization(line) != line):
        draft.organization = organization(line)
        return True
    return False


def _take_count_or_upvotes(line: str, draft: Draft) -> bool:
    if count := AUTHOR_COUNT.match(line):
        draft.author_count = int(count.group("count"))
    elif UPVOTES.match(line) and draft.published is not None and draft.upvotes is None:
        draft.upvotes = int(line)
    elif (names := BULLET_AUTHORS.match(line)) and _names_only(parts := names.group("names").split(",")):
        draft.authors = without_et_al(part.strip() for part in parts)
    else:
        return False
    return True


def _names_only(parts: list[str]) -> bool:
    """Comma-separated names, however many (a 100-author paper lists them all), none a sentence."""
    return all(len(part) <= 80 and ". " not in part.strip() for part in parts)


def author_names(line: str, one_name: bool = False) -> tuple[str, ...]:
    """The names of a line that is only authors' names ("Ann Lee, Jörg Müller and Bob Ray",
    "et al." dropped), else (). Names are separated by commas or end in "et al.", each two to
    four capitalised words (or particles: "van", "de"): "Sparse, Dense and Hybrid Retrieval" is
    a title. With `one_name` (the page puts names under every title) one name is enough."""
    names = without_et_al(_NAME_SPLIT.split(line.strip())) if line else ()
    if not (one_name or "," in line or _ENDS_ET_AL.search(line)):
        return ()  # "Privacy-Aware Collaborative and Distributed Bayesian Optimization" is a title
    return names if all(map(_is_name, names)) else ()


def _is_name(name: str) -> bool:
    words = name.split()
    return 2 <= len(words) <= 4 and all(word[:1].isupper() or word in _PARTICLES for word in words) and all(
        _NAME_WORD.fullmatch(word) for word in words)


def organization(line: str) -> str:
    """'parameterlab Parameter Lab' -> 'Parameter Lab' (HF shows the org slug, then its name)."""
    slug, _, name = line.partition(" ")
    if name and slug.casefold() == "".join(name.split()).casefold():
        return name
    return line


