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
        self._marked: dict[tuple[object, str], bytes] = {}  # (paper, field) -> word_starts(text), ASCII
        self._stems = Bounded()  # matched terms -> their stems and their first letters
        self._words = Bounded()  # word (as word_starts writes it) -> its stem
        self._snippets = Bounded(CACHE_SIZE)

    def snippet(self, paper: Paper, matched: Sequence[str]) -> str:
        ident = paper.key or paper.id or id(paper)
        terms = tuple(matched)
        key = (ident, terms)
        if (cached := self._snippets.get(key)) is not None:
            return cached
        if (found := self._stems.get(terms)) is None:
            found = self._stems.put(terms, _term_stems(terms))
        stems, letters = found
        for field in ("abstract", "title"):
            if (text := self._texts.get((ident, field))) is None:
                text = self._texts[(ident, field)] = " ".join((getattr(paper, field) or "").split())
            if text.isascii():
                if not letters:
                    continue
                if (marked := self._marked.get((ident, field))) is None:
                    marked = self._marked[(ident, field)] = word_starts(text)
                hits = self._ascii_hits(marked, stems, letters)
            else:
                _, field_stems, spans = self._field(ident, text, field)
                hits = sorted(spans[i] for stem in stems for i in _indices(field_stems, stem))
            if hits:
                return self._snippets.put(key, highlight(text, hits))
        return self._snippets.put(key, lead(paper.abstract or paper.title or ""))

    def _ascii_hits(self, marked: bytes, stems: frozenset[str], letters: tuple[bytes, ...]) -> list[tuple[int, int]]:
        """Spans of the tokens of an ASCII text stemming to one of `stems`, in order; `marked`
        is the text as `word_starts` writes it.

        Snowball English changes only a word's suffix, so a token can stem to `stem` only if it
        starts with the letter `stem` starts with (checked on 43k words of tests/data and the
        benchmark's papers): one scan per such letter finds just those whole tokens, and only
        they are stemmed, once per distinct word per run (the chain stems each token on its
        own). In `marked` a letter is only itself where a token starts, so each scan is a
        literal search with no look-behind, and no regex is compiled per set of terms: a
        character-class scan with a look-behind (one regex per set of first letters) cost
        ~30 us a 1,400-character abstract and 5 us to compile; one literal scan costs 2-7 us.
        Tokenising every abstract instead cost 236 us a paper (80 us with a word cache)."""
        hits: list[tuple[int, int]] = []
        words = self._words
        for letter in letters:
            for match in _LETTER_SCANS[letter].finditer(marked):
                word = match.group()
                stem = words.get(word)
                if stem is None:
                    found = STEMMER.analyze(word.translate(_UNMARK).decode("ascii"))
                    stem = words.put(word, found[0] if len(found) == 1 else "")  # "": 40+ letters, dropped
                if stem in stems:
                    hits.append(match.span())
        if len(letters) > 1:
            hits.sort()  # each letter's hits are in order; spans never overlap
        return hits

    def _field(self, ident: object, text: str, field: str) -> tuple[str, list[str], list[tuple[int, int]]]:
        """(the field's text, its tokens' stems, their spans): two aligned lists, once per
        paper, for text outside ASCII (where Python's and tantivy's letters differ)."""
        if (found := self._spans.get((ident, field))) is None:
            found = self._spans[(ident, field)] = (text, *_stems_and_spans(text))
        return found


def _term_stems(terms: tuple[str, ...]) -> tuple[frozenset[str], tuple[bytes, ...]]:
    """The stems of `terms`, and the letters a token must start with to stem to one of them
    (each stem's first character, when ASCII; `_ascii_hits` scans for each)."""
    stems = frozenset(s for term in terms for s in _stems_of(term))
    return stems, tuple(sorted({stem[0].encode("ascii") for stem in stems if stem[0].isascii()}))


@lru_cache(maxsize=CACHE_SIZE)
def _stems_of(term: str) -> tuple[str, ...]:
    """A matched term's stems; terms recur across subscribers' sets of terms (analysing each
    set's terms anew was 2% of a 5,000-email render)."""
    return tuple(STEMMER.analyze(term))


# `word_starts`: a token's first character is itself lowercased, the rest of a token has its
# high bit set, everything else (spaces, punctuation: [^A-Za-z0-9] is ASCII text's [\W_]) is
# itself lowercased. So b"s" occurs only where a token starts with s or S, and the token runs
# on over bytes >= 0x80: one literal-prefix regex per letter, compiled once per process.
_IS_WORD = bytes(1 if chr(b).isascii() and chr(b).isalnum() else 0 for b in range(256))
_UNMARK = bytes(b & 0x7F for b in range(256))


class _LetterScans(dict):
    """letter -> the scan for the tokens starting with it in `word_starts` bytes, compiled on first use."""

    def __missing__(self, letter: bytes) -> re.Pattern[bytes]:
        scan = self[letter] = re.compile(re.escape(letter) + rb"[\x80-\xff]*")
        return scan


_LETTER_SCANS = _LetterScans()


def word_starts(text: str) -> bytes:
    """ASCII `text` lowercased, as bytes, with the high bit set on every character of a token
    (a run of [A-Za-z0-9]) but its first: character i is the same in both, so spans carry over.
    Made with integer arithmetic on the whole text at once (C speed): a token's characters
    after the first are those whose predecessor is a token character too."""
    low = text.lower().encode("ascii")
    word = int.from_bytes(low.translate(_IS_WORD), "big")
    return (int.from_bytes(low, "big") | (word & (word >> 8)) << 7).to_bytes(len(low), "big")


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
