"""Display text: what a reader sees of a paper, in emails, feeds, pages and `papers list`.

The database keeps what the listing said (`6.01$\\times$`, `\\textbf{adaptability}`,
`github.io/\\#swantale`); everything that shows a paper to a person calls these functions
on the way out, which render the LaTeX as Unicode (`digest.latex`) and cap the length.
Pure: no I/O, no clock.

Caps: a title shows at most TITLE_CHARS characters, an abstract ABSTRACT_CHARS, an author
name NAME_CHARS, an organisation ORGANIZATION_CHARS, a byline BYLINE_CHARS, cut at a word
and ended with "…". Ten papers then stay far below Gmail's 102 KB clip whatever a listing
holds (a 100,000-character title made a 272 KB email before).

Cost, measured by tests/benchmarks/bench_text.py (CPU time, on the 12,491 distinct papers of
the July 2026 arXiv corpus, 29% of which hold LaTeX): showing a paper's title and abstract
the first time costs 85-105 µs on average (9-14 µs without markup, 270-300 µs with; two runs
on a busy 2-core machine); a whole listing day of 1,045 papers 0.08-0.10 s; showing it again
(the next digest or feed) 0.8 µs, from the cache. pylatexenc alone on whole abstracts would
cost 5,000 µs per paper with markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from functools import lru_cache

from digest.latex import has_markup, latex_to_text
from digest.models import Paper, RankedPaper

__all__ = [
    "ABSTRACT_CHARS", "BYLINE_CHARS", "NAME_CHARS", "ORGANIZATION_CHARS", "TITLE_CHARS",
    "display_abstract", "display_byline", "display_ranked", "display_snippet", "display_title",
    "for_display", "rendered", "shorten",
]

TITLE_CHARS = 500
ABSTRACT_CHARS = 5_000
NAME_CHARS = 120
ORGANIZATION_CHARS = 200
BYLINE_CHARS = 300
ELLIPSIS = "…"
# A week of papers' titles and abstracts; an entry costs about twice its text (~3 KB for
# an abstract), so the cache stays under ~25 MB.
CACHE_SIZE = 8_192
_B_OPEN, _B_CLOSE = "\ue000", "\ue001"  # private-use stand-ins for a snippet's <b> and </b>
# Control characters (but tab and line breaks), lone surrogates, U+FFFE/U+FFFF: invisible junk
# that breaks XML and mail; removed before whitespace is collapsed ("a\x1fb" -> "ab").
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@lru_cache(maxsize=CACHE_SIZE)
def rendered(text: str) -> str:
    """`text` with LaTeX rendered as Unicode, paragraphs kept, other whitespace one space.

    Cached: one paper is shown in many digests and feeds. Never raises; text that is not
    well-formed LaTeX comes back as it was. Control characters are dropped.
    """
    return latex_to_text(_JUNK.sub("", text))


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word and ended with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip(" ,;:.-") + ELLIPSIS


def _line(text: str | None, limit: int) -> str:
    """One line of display text; the raw text if rendering leaves nothing (a title "{}")."""
    if not text:
        return ""
    return shorten(" ".join(rendered(text).split()) or " ".join(_JUNK.sub("", text).split()), limit)


def display_title(paper: Paper) -> str:
    """The title as a reader should see it: one line, LaTeX rendered, at most TITLE_CHARS."""
    return _line(paper.title, TITLE_CHARS)


def display_abstract(paper: Paper) -> str:
    """The abstract rendered, paragraphs kept, at most ABSTRACT_CHARS characters."""
    return shorten(rendered(paper.abstract) or _JUNK.sub("", paper.abstract).strip(), ABSTRACT_CHARS) if paper.abstract else ""


def display_byline(paper: Paper) -> str:
    """Paper.byline of the display copy (rendered names), at most BYLINE_CHARS characters."""
    return shorten(for_display(paper).byline, BYLINE_CHARS)


def for_display(paper: Paper, *, abstract: bool = True) -> Paper:
    """A copy of `paper` with display text in title, abstract, author names and organisation.

    The stored paper is not changed; key, ids, links and dates are the same. `abstract=False`
    leaves the copy's abstract empty, for a caller that shows none (the same as passing a copy
    without one, in one dataclass copy instead of two: `replace` costs ~5 us a call).
    """
    return replace(
        paper,
        title=display_title(paper),
        abstract=display_abstract(paper) if abstract else "",
        authors=tuple(_line(name, NAME_CHARS) for name in paper.authors),
        organization=_line(paper.organization, ORGANIZATION_CHARS) or paper.organization,
    )


def display_snippet(snippet: str) -> str:
    """A ranking snippet (escaped text with <b> marks) with its LaTeX rendered.

    The marks survive conversion; if the LaTeX would lose or reorder one (a mark inside a
    dropped \\cite), the snippet is returned unchanged.
    """
    if not snippet or not has_markup(snippet):
        return snippet
    marked = html.unescape(snippet.replace("<b>", _B_OPEN).replace("</b>", _B_CLOSE))
    text = rendered(marked)
    if [c for c in text if c in (_B_OPEN, _B_CLOSE)] != [c for c in marked if c in (_B_OPEN, _B_CLOSE)]:
        return snippet
    return html.escape(text, quote=False).replace(_B_OPEN, "<b>").replace(_B_CLOSE, "</b>")


def display_ranked(item: RankedPaper) -> RankedPaper:
    """A ranked paper with display text in its paper and its snippet."""
    return replace(item, paper=for_display(item.paper), snippet=display_snippet(item.snippet))
