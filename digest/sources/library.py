"""A subscriber's reference library (BibTeX, RIS, Zotero CSV) as papers they like. Pure.

`parse_library(data, name=...)` returns every usable entry as a `Paper` (title, abstract,
authors, arXiv id, DOI, links) with the line it starts on, and every unusable entry as a
`LibraryProblem` naming its line, so an import can report bad entries by line and write
nothing. The format is taken from the file name's extension, else detected from the text.

Parsing is done by maintained libraries (bibtexparser 2 for BibTeX, rispy for RIS, the
stdlib csv module for Zotero's CSV export); this module only maps their fields onto
`Paper` and finds arXiv ids where reference managers hide them (eprint fields, URLs,
"arXiv:" notes, Zotero's Extra column).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePath

from digest.errors import SnapshotError
from digest.latex import latex_to_text
from digest.models import Paper
from digest.sources.fields import (
    arxiv_links,
    clean_text,
    find_arxiv_id,
    http_url,
    normalize_arxiv_id,
    without_et_al,
)

__all__ = ["LibraryEntry", "LibraryFormat", "LibraryProblem", "ParsedLibrary", "parse_library"]

MAX_ENTRIES = 20_000  # a personal library; anything larger is not one
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>{}]+)", re.I)
_BRACES = re.compile(r"[{}]")
_MATH = re.compile(r"(\$[^$]+\$)")
_AND = re.compile(r"\s+and\s+")
_CSV_DELIMITERS = (",", ";", "\t")
_RIS_START = re.compile(r"^TY  -", re.MULTILINE)
# Some tools write RIS tags with one space before the dash ("TY - JOUR"); rispy needs two.
_RIS_TAG = re.compile(r"^([A-Z][A-Z0-9]) {1,2}-(?=[ \r]|$)", re.MULTILINE)


class LibraryFormat(StrEnum):
    BIBTEX = "bibtex"
    RIS = "ris"
    ZOTERO_CSV = "zotero-csv"


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One usable entry: the paper it describes and the 1-based line it starts on."""

    line: int
    paper: Paper


@dataclass(frozen=True, slots=True)
class LibraryProblem:
    """An entry that cannot be used, with the 1-based line it starts on and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ParsedLibrary:
    format: LibraryFormat
    entries: list[LibraryEntry] = field(default_factory=list)
    problems: list[LibraryProblem] = field(default_factory=list)


def parse_library(data: bytes, *, name: str = "-") -> ParsedLibrary:
    """Every entry of a BibTeX, RIS or Zotero CSV export.

    Raises SnapshotError (naming `name`) when the file is not text or holds no entry at
    all; individual bad entries are returned as problems, not raised.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotError("not UTF-8 text: export the library as BibTeX, RIS or CSV", input=name) from None
    library_format = _format_of(text, name)
    parsed = _PARSERS[library_format](text)
    if not parsed.entries and not parsed.problems:
        raise SnapshotError(f"no entries found in this {library_format} file", input=name)
    if len(parsed.entries) + len(parsed.problems) > MAX_ENTRIES:
        raise SnapshotError(f"more than {MAX_ENTRIES:,} entries: import a smaller collection", input=name)
    return parsed


def _format_of(text: str, name: str) -> LibraryFormat:
    suffix = PurePath(name).suffix.lower()
    by_suffix = {".bib": LibraryFormat.BIBTEX, ".bibtex": LibraryFormat.BIBTEX, ".ris": LibraryFormat.RIS,
                 ".csv": LibraryFormat.ZOTERO_CSV}
    if suffix in by_suffix:
        return by_suffix[suffix]
    stripped = text.lstrip()
    if stripped.startswith("@") or re.search(r"^\s*@\w+\s*\{", text, re.M):
        return LibraryFormat.BIBTEX
    if _RIS_START.search(_RIS_TAG.sub(r"\1  -", text)):
        return LibraryFormat.RIS
    first = stripped.splitlines()[0] if stripped else ""
    if "Title" in first and any(d in first for d in _CSV_DELIMITERS):
        return LibraryFormat.ZOTERO_CSV
    raise SnapshotError("not a reference library: expected BibTeX (.bib), RIS (.ris) or a Zotero CSV export",
                        input=name)


def _paper(*, title: str, abstract: str = "", authors: tuple[str, ...] = (), arxiv_id: str | None = None,
           doi: str | None = None, url: str | None = None) -> Paper | str:
    """A Paper from an entry's fields, or the reason it cannot be one."""
    title = tex_text(title)
    if not title and not arxiv_id and not doi:
        return "no title, arXiv id or DOI"
    links = arxiv_links(arxiv_id) if arxiv_id else {}
    if url and not links:
        links = {"abs": url}
    return Paper(title=title or (f"arXiv:{arxiv_id}" if arxiv_id else f"doi:{doi}"),
                 abstract=clean_text(_BRACES.sub("", abstract)), authors=authors, arxiv_id=arxiv_id,
                 doi=doi.lower() if doi else None, links=links)


def tex_text(value: str) -> str:
    """A reference manager's TeX as text: accents, escapes and text macros decoded ("{\\"U}ber"
    -> "Über", "\\textit{On}" -> "On"), braces dropped, math kept as written ("$\\alpha$"), as
    arXiv keeps it, so a library title matches the listing's title."""
    return clean_text("".join(part if _MATH.fullmatch(part) else _tex_prose(part) for part in _MATH.split(value)))


def _tex_prose(text: str) -> str:
    """Text outside math, decoded; the spaces around it kept (they separate it from the math)."""
    decoded = _BRACES.sub("", latex_to_text(text) if "\\" in text else text)
    bare = _BRACES.sub("", text)
    lead, trail = bare[: len(bare) - len(bare.lstrip())], bare[len(bare.rstrip()):]
    return lead + decoded.strip() + trail if decoded.strip() else lead or trail


def _names(names: object) -> tuple[str, ...]:
    """Authors as "First Last", TeX decoded, without the "others" BibTeX writes for "et al."."""
    return without_et_al(tex_text(_bibtex_name(name)) for name in names if isinstance(name, str) and name.strip())


def _arxiv_in(*values: object) -> str | None:
    for value in values:
        found = normalize_arxiv_id(clean_text(value)) or find_arxiv_id(value)
        if found:
            return found
    return None


def _doi_in(*values: object) -> str | None:
    for value in values:
        match = _DOI.search(value) if isinstance(value, str) else None
        if match:
            return match.group(1).rstrip(".,;")
    return None


# ---- BibTeX ------------------------------------------------------------------------------


def _parse_bibtex(text: str) -> ParsedLibrary:
    import bibtexparser  # imported here: only library imports need it

    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)  # we report failures by line
    library = bibtexparser.parse_string(text)
    parsed = ParsedLibrary(LibraryFormat.BIBTEX)
    for block in library.failed_blocks:
        parsed.problems.append(LibraryProblem(block.start_line + 1, _bibtex_failure(block)))
    for entry in library.entries:
        fields = {key.lower(): str(item.value) for key, item in entry.fields_dict.items()}
        _add(parsed, entry.start_line + 1, _bibtex_paper(fields))
    parsed.entries.sort(key=lambda e: e.line)
    parsed.problems.sort(key=lambda p: p.line)
    return parsed


def _bibtex_failure(block: object) -> str:
    lines = str(getattr(block, "error", "") or "").strip().splitlines()
    reason = lines[0] if lines else "syntax error"
    return f"unreadable BibTeX entry ({reason})"


def _bibtex_paper(fields: dict[str, str]) -> Paper | str:
    eprint = fields.get("eprint", "")
    prefix = fields.get("archiveprefix", "") or fields.get("eprinttype", "")
    arxiv_id = normalize_arxiv_id(eprint) if (not prefix or prefix.lower() == "arxiv") else None
    arxiv_id = arxiv_id or _arxiv_in(fields.get("url"), fields.get("journal"), fields.get("note"),
                                     fields.get("howpublished"), fields.get("volume"))
    authors = _names(_AND.split(fields.get("author", "")))
    return _paper(title=fields.get("title", ""), abstract=fields.get("abstract", ""), authors=authors,
                  arxiv_id=arxiv_id, doi=_doi_in(fields.get("doi"), fields.get("url")),
                  url=http_url(fields.get("url")))


def _bibtex_name(author: str) -> str:
    """'Ruff, Lukas' -> 'Lukas Ruff' (BibTeX's 'Last, First' order)."""
    if "," in author:
        last, _, first = author.partition(",")
        return f"{first.strip()} {last.strip()}"
    return author


# ---- RIS ---------------------------------------------------------------------------------


def _parse_ris(text: str) -> ParsedLibrary:
    import rispy  # imported here: only library imports need it

    parsed = ParsedLibrary(LibraryFormat.RIS)
    text = _RIS_TAG.sub(r"\1  -", text)
    starts = _line_numbers(text, [m.start() for m in _RIS_START.finditer(text)])
    for number, (line, record) in enumerate(zip(starts, _ris_records(text, starts)), start=1):
        try:
            entries = rispy.loads(record)
        except Exception as err:  # rispy raises bare IOError/ValueError subclasses on bad records
            parsed.problems.append(LibraryProblem(line, f"unreadable RIS record {number} ({err})"))
            continue
        if not entries:
            parsed.problems.append(LibraryProblem(line, f"empty RIS record {number}"))
            continue
        _add(parsed, line, _ris_paper(entries[0]))
    return parsed


def _line_numbers(text: str, offsets: list[int]) -> list[int]:
    """The 1-based line of each offset (ascending), counting newlines once, not from the start each time."""
    numbers, line, done = [], 1, 0
    for offset in offsets:
        line += text.count("\n", done, offset)
        done = offset
        numbers.append(line)
    return numbers


def _ris_records(text: str, starts: list[int]) -> list[str]:
    lines = text.splitlines()
    bounds = [s - 1 for s in starts] + [len(lines)]
    return ["\n".join(lines[bounds[i]:bounds[i + 1]]) + "\n" for i in range(len(starts))]


def _ris_paper(entry: dict) -> Paper | str:
    urls = entry.get("urls") or []
    authors = _names(entry.get("authors") or entry.get("first_authors") or [])
    title = entry.get("title") or entry.get("primary_title") or ""
    notes = " ".join(entry.get("notes") or [])
    arxiv_id = _arxiv_in(*urls, entry.get("journal_name"), entry.get("secondary_title"), notes)
    abstract = entry.get("abstract") or entry.get("notes_abstract") or ""  # AB, else N2 (EndNote, Mendeley)
    return _paper(title=title, abstract=abstract, authors=authors, arxiv_id=arxiv_id,
                  doi=_doi_in(entry.get("doi"), *urls), url=next(filter(None, map(http_url, urls)), None))


# ---- Zotero CSV --------------------------------------------------------------------------


def _parse_zotero_csv(text: str) -> ParsedLibrary:
    parsed = ParsedLibrary(LibraryFormat.ZOTERO_CSV)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(text))
    if not reader.fieldnames or "Title" not in reader.fieldnames:
        parsed.problems.append(LibraryProblem(1, "no 'Title' column: export the collection from Zotero as CSV"))
        return parsed
    line = 2
    try:
        for row in reader:
            _add(parsed, line, _zotero_paper(row))
            line = reader.line_num + 1
    except csv.Error as err:
        parsed.problems.append(LibraryProblem(reader.line_num, f"unreadable CSV ({err})"))
    return parsed


def _csv_delimiter(text: str) -> str:
    """"," as Zotero writes; ";" or a tab when a spreadsheet saved the export again (European locales)."""
    header = text.lstrip().split("\n", 1)[0]
    for delimiter in _CSV_DELIMITERS:
        if "Title" in (field.strip().strip('"') for field in header.split(delimiter)):
            return delimiter
    return ","


def _zotero_paper(row: dict) -> Paper | str:
    url = row.get("Url") or ""
    authors = _names((row.get("Author") or "").split(";"))
    arxiv_id = _arxiv_in(url, row.get("Extra"), row.get("Archive ID"), row.get("Publication Title"))
    return _paper(title=row.get("Title") or "", abstract=row.get("Abstract Note") or "", authors=authors,
                  arxiv_id=arxiv_id, doi=_doi_in(row.get("DOI"), url, row.get("Extra")), url=http_url(url))


def _add(parsed: ParsedLibrary, line: int, result: Paper | str) -> None:
    if isinstance(result, str):
        parsed.problems.append(LibraryProblem(line, result))
    else:
        parsed.entries.append(LibraryEntry(line, result))


_PARSERS = {
    LibraryFormat.BIBTEX: _parse_bibtex,
    LibraryFormat.RIS: _parse_ris,
    LibraryFormat.ZOTERO_CSV: _parse_zotero_csv,
}
