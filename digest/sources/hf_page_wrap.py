"""Undo the hard line wrapping of a page saved as text by a browser that wraps (Firefox's
"Save Page As > Text Files" breaks lines at about 72 columns): titles and abstracts come
back as one line each, which is what `hf_page` reads.

A wrapped save has few lines longer than the wrap width (a link that could not be broken)
and many close to it. A line
is joined to the next one when the next line's first word would not have fitted on it,
which is why the wrapper broke the line there; short lines (headers, "• 5 authors", "·",
dates) end where they end. Blank lines keep separating blocks, and a text without them is
never unwrapped (joining a compact list of titles would make titles into abstracts).
"""

from __future__ import annotations

_WIDTHS = range(60, 101)  # wrap widths seen in practice; real unwrapped abstracts run 200-2,000
_NEAR = 15  # a wrapped line ends within this many characters of the width
_SHARE = 0.3  # of the non-blank lines, at least this many end near the width
_BLANKS = 2  # at least this many blank lines


def unwrap(lines: list[str]) -> list[str]:
    """`lines` with wrapped runs joined; a joined run keeps its first line's place (the others
    become blank), so line numbers in messages still point into the file."""
    width = _wrap_width(lines)
    if width is None:
        return lines
    out = list(lines)
    start = None
    for index, line in enumerate(lines):
        if start is not None and line and _was_broken(lines[index - 1], line, width):
            out[start] += " " + line
            out[index] = ""
            continue
        start = index if line else None
    return out


def _wrap_width(lines: list[str]) -> int | None:
    """The width the text was wrapped at, or None when it was not wrapped.

    Taken as the 90th percentile of the line lengths, not the longest: a word longer than
    the width (a link) stands on a line of its own, longer than the rest.
    """
    filled = sorted(len(line) for line in lines if line)
    if len(filled) < 4 or len(lines) - len(filled) < _BLANKS:
        return None  # a wrapping save separates its blocks with blank lines; a compact text is not one
    width = filled[int(0.9 * (len(filled) - 1))]
    if width not in _WIDTHS or sum(width - _NEAR <= length for length in filled) < _SHARE * len(filled):
        return None
    return width


def _was_broken(line: str, following: str, width: int) -> bool:
    """True when the wrapper broke `line` before `following`: its first word did not fit."""
    return len(line) + 1 + len(following.split(" ", 1)[0]) > width
