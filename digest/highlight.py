"""Highlighting: a paper's passage holding the matched terms, with them in <b>.

Tokens and stems come from tantivy's own "en_stem" chain, so a highlight lines up with
what the index matched. Everything outside the <b> marks is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import lru_cache

import tantivy

from digest.models import Paper

SNIPPET_CHARS = 200
CACHE_SIZE = 20_000  # entries per cache: enough for a day's shared queries, flat memory beyond
_WORD = re.compile(r"[^\W_]+")  # tantivy's simple tokenizer: runs of letters and digits

# Tantivy's "en_stem" chain, rebuilt for highlighting, so highlights line up with the index.
STEMMER = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
           .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.stemmer("english")).build())


class Bounded(OrderedDict):
    """A dict that forgets its oldest entry past `size`: memory stays flat on long runs."""

    def __init__(self, size: int = CACHE_SIZE):
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


def tokenize(text: str) -> list[tuple[int, str, int, int]]:
    """(position, stem, start char, end char) of each token as the index sees it.

    Pairs the stems of `analyze` with a regex's word spans: 2-3x faster than reading
    `pre_tokenize`'s Token objects. Rust counts some marks as letters where Python does not,
    so outside ASCII the pairing is checked (the regex's words must stem the same)."""
    stems = STEMMER.analyze(text)
    spans = [m.span() for m in _WORD.finditer(text)]
    # Tantivy drops tokens of 40+ UTF-8 bytes but still counts their positions.
    kept = [k for k, (a, b) in enumerate(spans) if b - a < 10 or len(text[a:b].encode()) < 40]
    if len(kept) == len(stems) and (text.isascii() or len(kept) == len(spans) and stems == STEMMER.analyze(
            " ".join(text[a:b] for a, b in spans))):
        return [(k, stem, *spans[k]) for k, stem in zip(kept, stems)]
    return [(t.position, t.text, t.char_offset_from, t.char_offset_to) for t in STEMMER.pre_tokenize(text).tokens]


def highlight(text: str, hits: list[tuple[int, int]]) -> str:
    """HTML of the ~SNIPPET_CHARS window of `text` holding the most `hits` (sorted spans)."""
    best, j = (0, 0), 0
    for i in range(len(hits)):  # two pointers: widest run of hits fitting in the window
        j = max(j, i)
        while j + 1 < len(hits) and hits[j + 1][1] - hits[i][0] <= SNIPPET_CHARS:
            j += 1
        if j - i > best[1] - best[0]:
            best = (i, j)
    first, last = hits[best[0]][0], hits[best[1]][1]
    start = max(0, min(first - (SNIPPET_CHARS - (last - first)) // 2, len(text) - SNIPPET_CHARS))
    end = min(len(text), max(start + SNIPPET_CHARS, last))
    start, end = _whole_words(text, start, end, first, last)
    parts, at = ["…" if start > 0 else ""], start
    for a, b in hits:
        if a >= start and b <= end:
            parts += [html.escape(text[at:a]), "<b>", html.escape(text[a:b]), "</b>"]
            at = b
    parts += [html.escape(text[at:end]), "…" if end < len(text) else ""]
    return "".join(parts)


def _whole_words(text: str, start: int, end: int, first: int, last: int) -> tuple[int, int]:
    """Move the window ends to spaces: inwards while the hits stay inside, else out by <= 25."""
    if start > 0 and text[start - 1] != " ":
        cut = text.find(" ", start, first)
        if cut < 0:
            cut = text.rfind(" ", max(start - 25, 0), start)
        start = cut + 1 if cut >= 0 else (0 if start <= 25 else start)
    if end < len(text) and text[end] != " ":
        cut = text.rfind(" ", last, end)
        if cut < 0:
            cut = text.find(" ", end, end + 25)
        end = cut if cut >= 0 else (len(text) if len(text) - end <= 25 else end)
    return start, end


def lead(text: str) -> str:
    """The first ~SNIPPET_CHARS characters, cut at a word boundary, HTML-escaped."""
    text = " ".join(text.split())
    if len(text) <= SNIPPET_CHARS:
        return html.escape(text)
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return html.escape(text[: cut if cut > 0 else SNIPPET_CHARS]) + "…"


class Highlighter:
    """Snippets for papers already ranked: the passage holding the matched terms, in <b>.

    The outbox stores each digest's (paper, score, matched terms), not its snippets; the
    sender rebuilds them here with the same tokenizer as the index. Caches the stems of each
    set of terms, each word's stem, each paper field's text (and, outside ASCII, its stems and
    their spans), and each (paper, terms) snippet, so a run pays once per distinct (paper,
    terms). Not thread-safe.
    """

    def __init__(self) -> None:
        self._spans: dict[tuple[object, str], tuple[str, list[str], list[tuple[int, int]]]] = {}
        self._texts: dict[tuple[object, str], str] = {}  # (paper, field) -> its text, one line
        self._stems = Bounded()  # matched terms -> their stems and the scan for their words
        self._words = Bounded()  # word -> its stem
        self._snippets = Bounded(CACHE_SIZE)

    def snippet(self, paper: Paper, matched: Sequence[str]) -> str:
        ident = paper.key or paper.id or id(paper)
        terms = tuple(matched)
        key = (ident, terms)
        if (cached := self._snippets.get(key)) is not None:
            return cached
        if (found := self._stems.get(terms)) is None:
            found = self._stems.put(terms, _term_stems(terms))
        stems, scan = found
        for field in ("abstract", "title"):
            if (text := self._texts.get((ident, field))) is None:
                text = self._texts[(ident, field)] = " ".join((getattr(paper, field) or "").split())
            if text.isascii():
                hits = self._ascii_hits(text, stems, scan)
            else:
                _, field_stems, spans = self._field(ident, text, field)
                hits = sorted(spans[i] for stem in stems for i in _indices(field_stems, stem))
            if hits:
                return self._snippets.put(key, highlight(text, hits))
        return self._snippets.put(key, lead(paper.abstract or paper.title or ""))

    def _ascii_hits(self, text: str, stems: frozenset[str], scan: re.Pattern[str] | None) -> list[tuple[int, int]]:
        """Spans of the tokens of ASCII `text` stemming to one of `stems`, in order.

        Snowball English changes only a word's suffix, so a token can stem to `stem` only if it
        starts with the letter `stem` starts with (checked on 43k words of tests/data and the
        benchmark's papers): `scan` finds just those whole tokens, and only they are stemmed,
        once per distinct word per run (the chain stems each token on its own). Tokenising
        every abstract instead cost 236 us a paper (80 us with a word cache); this costs 16-30 us
        per distinct (paper, terms). The 5,000 x 5,000 run has 3,755 papers and 11,099 such
        pairs: 0.87 s -> 0.32 s. In ASCII the regex's words are exactly tantivy's tokens."""
        if scan is None:
            return []
        hits = []
        words = self._words
        for match in scan.finditer(text):
            word = match.group()
            stem = words.get(word)
            if stem is None:
                found = STEMMER.analyze(word)  # [] for a word of 40+ letters: the index drops it
                stem = words.put(word, found[0]) if len(found) == 1 else ""
            if stem in stems:
                hits.append(match.span())
        return hits

    def _field(self, ident: object, text: str, field: str) -> tuple[str, list[str], list[tuple[int, int]]]:
        """(the field's text, its tokens' stems, their spans): two aligned lists, once per
        paper, for text outside ASCII (where Python's and tantivy's letters differ)."""
        if (found := self._spans.get((ident, field))) is None:
            found = self._spans[(ident, field)] = (text, *_stems_and_spans(text))
        return found


def _term_stems(terms: tuple[str, ...]) -> tuple[frozenset[str], re.Pattern[str] | None]:
    """The stems of `terms`, and a scan for the whole tokens that may stem to one of them:
    those starting with a stem's first letter (either case)."""
    stems = frozenset(s for term in terms for s in _stems_of(term))
    return stems, _scan(frozenset(stem[0] for stem in stems))


@lru_cache(maxsize=CACHE_SIZE)
def _stems_of(term: str) -> tuple[str, ...]:
    """A matched term's stems; terms recur across subscribers' sets of terms (analysing each
    set's terms anew was 2% of a 5,000-email render)."""
    return tuple(STEMMER.analyze(term))


@lru_cache(maxsize=1024)
def _scan(firsts: frozenset[str]) -> re.Pattern[str] | None:
    """The scan for tokens starting with one of `firsts` (either case; None: no ASCII letter),
    shared by every set of terms whose stems start with those letters (compiling one per set
    of terms was 1.3% of a run's CPU, and building its letters 2%)."""
    letters = sorted({c for first in firsts for c in (first, first.upper()) if c.isascii()})
    if not letters:
        return None
    # The letter comes first so the regex engine can skip ahead to it (5x faster than leading
    # with the lookbehind); the lookbehind then checks that the letter starts a token.
    return re.compile("[" + "".join(map(re.escape, letters)) + r"](?<![^\W_].)[^\W_]*")


_LONG_WORD = re.compile(r"[A-Za-z0-9]{40}")  # a token tantivy drops, in ASCII text (= [^\W_] there)


def _stems_and_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """`tokenize(text)` as (stems, spans). ASCII text without a 40+ letter word (nearly
    every abstract) pairs `analyze` with the regex's spans directly: no per-token Python."""
    if text.isascii() and not _LONG_WORD.search(text):
        stems = STEMMER.analyze(text)
        spans = [m.span() for m in _WORD.finditer(text)]
        if len(stems) == len(spans):
            return stems, spans
    tokens = tokenize(text)
    return [stem for _, stem, _, _ in tokens], [(start, end) for _, _, start, end in tokens]


def _indices(items: list[str], value: str) -> Iterator[int]:
    """Every index of `value` in `items` (list.index scans in C; Python runs once per hit)."""
    at = -1
    try:
        while True:
            at = items.index(value, at + 1)
            yield at
    except ValueError:
        return
