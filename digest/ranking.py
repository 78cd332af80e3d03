"""Rank candidate papers for each subscriber's interests query, on an in-memory tantivy index.

Pure over plain records: callers pass `Paper`s and `Subscriber`s in, nothing is read or written.

Interests grammar (a checked subset of tantivy's query language; `validate_query` is the only judge):

- words are OR-ed: `token pooling` finds papers with either word; BM25 ranks papers with more
  (and rarer) matches higher. `AND` joins words that must all match and binds tighter than OR.
- `"quoted phrase"` matches the words adjacent and in order; `OR` may be written explicitly.
- `-word`, `-"phrase"`, `-(group)` or `NOT word` removes every paper that matches it.
- `title:`, `abstract:`, `author:` restrict a word or phrase to one field (`author:zhang`,
  `author:"Lukas Ruff"`; the author field also holds the organisation). Unqualified words search
  title and abstract only, so a topic word never matches a surname ("long context" vs Dr Long).
- `( ... )` groups. Words are English-stemmed: "pooling" finds "pool", "normalize" finds
  "normalization" and vice versa. Punctuation inside a word splits it like in the papers
  (`LLM-as-a-judge` is a phrase); words without letters or digits are dropped.
- A comma list `pooling, data filtering, -medical` means any of the items, each item's words
  all required: `pooling OR (data AND filtering) -medical`. Exclusions apply to the whole list.
  Commas cannot be mixed with OR, AND or parentheses.
- Only exclusions (`-medical`) means "the top papers, minus these"; blank means no interests.
- Not supported (a positioned error): `^` boosts, `*` wildcards, `~` slop, `[ ]`/`{ }` ranges.

`validate_query` returns the normalised text (stable: validating it again returns it unchanged).
Scores are BM25 with title matches boosted, rounded to 4 decimals so that ties are exact.
"""

from __future__ import annotations

import html
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Iterable, Iterator, Sequence

import tantivy

from digest.errors import QueryError
from digest.models import Paper, RankedPaper, Subscriber

__all__ = ["PaperIndex", "build_index", "rank", "rank_subscribers", "validate_query"]

log = logging.getLogger(__name__)

FIELDS = ("title", "abstract", "author")
DEFAULT_FIELDS = ["title", "abstract"]
# Titles name the topic while abstracts mention much in passing. BM25's length normalisation
# already favours short fields, so a modest 2x puts a title match first without letting one
# title word outweigh an abstract that matches every query term.
FIELD_BOOSTS = {"title": 2.0}
SNIPPET_CHARS = 200
MAX_QUERY_CHARS = 1000
MAX_DEPTH = 8
_UNSUPPORTED = "^*~[]{}"
_KEYWORDS = {"OR", "AND", "NOT", "IN", "TO"}
_NEWEST = 2**62  # cursor id of a paper the store has not numbered yet: newer than any cursor
_CACHE_SIZE = 50_000


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    # Not stored: PaperIndex keeps the Documents it built, so snippets never hit the doc store.
    for name in FIELDS:
        sb.add_text_field(name, tokenizer_name="en_stem")
    sb.add_integer_field("id", indexed=True, fast=True)  # cursor filter
    sb.add_integer_field("pos", fast=True)  # hit -> Paper
    return sb.build()


SCHEMA = _build_schema()


# ---------------------------------------------------------------- query text -> tree


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word phrase field - OR AND ( ) ,
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Leaf:
    field: str | None
    text: str  # as the user wrote it (phrases with whitespace collapsed)
    phrase: bool


@dataclass(frozen=True, slots=True)
class _Not:
    child: object


@dataclass(frozen=True, slots=True)
class _And:
    parts: tuple


@dataclass(frozen=True, slots=True)
class _Or:
    items: tuple
    explicit: tuple  # explicit[i]: the user wrote OR before items[i]


@dataclass(frozen=True, slots=True)
class _Group:
    inner: _Or


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _lex(q: str) -> list[_Tok]:
    """Tokens with their offsets in `q`; raises QueryError for lexical problems."""
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == '"':
            end = q.find('"', i + 1)
            if end < 0:
                raise _err(q, "unbalanced quote: this \" is never closed", i, 'add the closing "')
            text = " ".join(q[i + 1 : end].replace("\\", " ").split())
            if _has_alnum(text):
                toks.append(_Tok("phrase", text, i))
            i = end + 1
        elif c == "-":
            if i + 1 >= n or q[i + 1].isspace() or q[i + 1] in "),":
                raise _err(q, "lone '-': nothing to exclude", i, "write -word with no space")
            toks.append(_Tok("-", "-", i))
            i += 1
        else:
            i = _lex_word(q, i, toks)
    return toks


def _lex_word(q: str, i: int, toks: list[_Tok]) -> int:
    """Lex the word at `i` (with any `field:` prefixes) into `toks`; return the end offset."""
    end = i
    while end < len(q) and not q[end].isspace() and q[end] not in '"(),':
        end += 1
    while (colon := q.find(":", i, end)) > i and q[i:colon].isalpha():
        name = q[i:colon]
        if name.lower() not in FIELDS:
            raise _err(q, f"unknown field '{name}:'", i,
                       "fields are title:, abstract:, author:; quote text that contains a colon")
        toks.append(_Tok("field", name.lower(), i))
        i = colon + 1
        if i < end and q[i] == "-":
            raise _err(q, "'-' inside a field", i, f"put it first: -{name.lower()}:word")
    word = q[i:end]
    for k, ch in enumerate(word):
        if ch in _UNSUPPORTED:
            raise _err(q, f"unsupported character '{ch}'", i + k,
                       "boosts, wildcards, slop and ranges are not supported; quote the text")
    if word in ("OR", "AND"):
        toks.append(_Tok(word, word, i))
    elif word == "NOT":
        toks.append(_Tok("-", word, i))
    elif _has_alnum(word):
        toks.append(_Tok("word", word, i))
    return end


def _err(q: str, message: str, pos: int | None, hint: str = "") -> QueryError:
    return QueryError(message, query=q, position=pos, hint=hint)


class _Parser:
    """Recursive descent over `_lex` tokens: or := and+ (OR-joined), and := unary (AND unary)*."""

    def __init__(self, query: str, toks: list[_Tok]):
        self.q, self.toks, self.i = query, toks, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> _Or:
        if any(t.kind == "," for t in self.toks):
            return self.comma_list()
        tree = self.or_(0)
        if (t := self.peek()) is not None:  # only a ')' stops or_ early
            raise _err(self.q, "unmatched ')'", t.pos, "remove it or add a '(' before")
        return tree

    def or_(self, depth: int) -> _Or:
        items: list = []
        explicit: list[bool] = []
        pending: _Tok | None = None
        while (t := self.peek()) is not None and t.kind != ")":
            if t.kind in ("OR", "AND"):
                if t.kind == "AND" or not items or pending is not None:
                    raise _err(self.q, f"dangling {t.kind}", t.pos, f"put a word on both sides of {t.kind}")
                if isinstance(items[-1], _Not):
                    raise _err(self.q, "OR cannot join an exclusion", t.pos, "write a b -c")
                pending = t
                self.i += 1
                continue
            node = self.and_(depth)
            if pending is not None and isinstance(node, _Not):
                raise _err(self.q, "OR cannot join an exclusion", pending.pos, "write a b -c")
            explicit.append(pending is not None)
            items.append(node)
            pending = None
        if pending is not None:
            raise _err(self.q, "dangling OR", pending.pos, "put a word after OR or remove it")
        return _Or(tuple(items), tuple(explicit))

    def and_(self, depth: int):
        parts = [self.unary(depth)]
        first_and = self.peek()
        while (t := self.peek()) is not None and t.kind == "AND":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR", "AND", ","):
                raise _err(self.q, "dangling AND", t.pos, "put a word on both sides of AND")
            parts.append(self.unary(depth))
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(p, _Not) for p in parts):
            raise _err(self.q, "AND needs a word that is not excluded", first_and.pos)
        return _And(tuple(parts))

    def unary(self, depth: int):
        t = self.peek()
        if t is not None and t.kind == "-":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("word", "phrase", "field", "("):
                raise _err(self.q, f"nothing to exclude after {t.text}", t.pos,
                           "write -word or -\"a phrase\"")
            return _Not(self.primary(depth))
        return self.primary(depth)

    def primary(self, depth: int):
        t = self.peek()
        assert t is not None  # callers check
        self.i += 1
        if t.kind == "field":
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("word", "phrase"):
                raise _err(self.q, f"'{t.text}:' must be followed by a word or a quoted phrase",
                           t.pos, f'e.g. {t.text}:pooling or {t.text}:"token pooling"')
            self.i += 1
            return _Leaf(t.text, nxt.text, nxt.kind == "phrase")
        if t.kind in ("word", "phrase"):
            return _Leaf(None, t.text, t.kind == "phrase")
        if t.kind == "(":
            if depth >= MAX_DEPTH:
                raise _err(self.q, "parentheses nested too deeply", t.pos)
            inner = self.or_(depth + 1)
            if self.peek() is None:
                raise _err(self.q, "unbalanced '(': never closed", t.pos, "add a ')'")
            self.i += 1
            if not inner.items:
                raise _err(self.q, "empty parentheses", t.pos, "put words inside or remove them")
            if all(isinstance(x, _Not) for x in inner.items):
                raise _err(self.q, "a group needs a word that is not excluded", t.pos)
            return _Group(inner)
        raise _err(self.q, f"unexpected {t.text!r}", t.pos)

    def comma_list(self) -> _Or:
        items: list = []
        excluded: list = []
        bad = next((t for t in self.toks if t.kind in ("OR", "AND", "(", ")")), None)
        if bad is not None:
            raise _err(self.q, f"a comma list cannot also use {bad.text}", bad.pos,
                       "use either commas or OR/AND/parentheses")
        while self.peek() is not None:
            words: list = []
            while (t := self.peek()) is not None and t.kind != ",":
                node = self.unary(0)
                (excluded if isinstance(node, _Not) else words).append(node)
            self.i += 1  # the comma (or past the end)
            if words:
                items.append(words[0] if len(words) == 1 else _And(tuple(words)))
        explicit = [False] + [True] * (len(items) - 1) + [False] * len(excluded)
        return _Or(tuple(items + excluded), tuple(explicit[: len(items) + len(excluded)]))


# ---------------------------------------------------------------- tree -> text


def _render(node, in_list: bool = False) -> str:
    """The canonical text, which both users and tantivy's parser read."""
    if isinstance(node, _Leaf):
        prefix = f"{node.field}:" if node.field else ""
        return prefix + (node.text if _is_bare_word(node) else f'"{node.text.replace(chr(92), " ")}"')
    if isinstance(node, _Not):
        return "-" + _render(node.child)
    if isinstance(node, _Group):
        return f"({_render(node.inner)})"
    if isinstance(node, _And):
        text = " AND ".join(_render(p) for p in node.parts)
        return f"({text})" if in_list else text  # spells out that AND binds tighter than OR
    if isinstance(node, _Or):
        many = len(node.items) > 1
        out = []
        for k, (item, explicit) in enumerate(zip(node.items, node.explicit)):
            if k:
                out.append(" OR " if explicit else " ")
            out.append(_render(item, many))
        return "".join(out)
    raise TypeError(node)


def _is_bare_word(leaf: _Leaf) -> bool:
    """Whether tantivy reads the word as written; anything else is sent as a quoted phrase."""
    w = leaf.text
    return (not leaf.phrase and w[0].isalnum() and w not in _KEYWORDS
            and all(ch.isalnum() or ch in "-_." for ch in w))


def _positive_leaves(node, out: list[_Leaf]) -> list[_Leaf]:
    """Leaves a paper can match, in query order (leaves under an exclusion are left out)."""
    if isinstance(node, _Leaf):
        out.append(node)
    elif isinstance(node, (_Group,)):
        _positive_leaves(node.inner, out)
    elif isinstance(node, (_And, _Or)):
        for child in node.parts if isinstance(node, _And) else node.items:
            _positive_leaves(child, out)
    return out


@dataclass(frozen=True, slots=True)
class _Analysed:
    canonical: str  # what validate_query returns
    tantivy_text: str | None  # None: no positive words, rank by upvotes
    leaves: tuple[tuple[str, str], ...]  # (leaf query text, display text)
    excluding: str | None  # the exclusions of an exclusion-only query, as tantivy text


@lru_cache(maxsize=_CACHE_SIZE)
def _analyse(query: str) -> _Analysed:
    if len(query) > MAX_QUERY_CHARS:
        raise _err(query, f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    tree = _Parser(query, _lex(query)).parse()
    canonical = _render(tree)
    positive = any(not isinstance(x, _Not) for x in tree.items)
    leaves = tuple(dict.fromkeys((_render(leaf), leaf.text) for leaf in _positive_leaves(tree, [])))
    excluding = None
    if canonical and not positive:
        excluding = " ".join(_render(x.child) for x in tree.items)
    result = _Analysed(canonical, canonical if positive else None, leaves, excluding)
    for text in (result.tantivy_text, result.excluding):
        if text:
            try:
                _validator().parse_query(text, DEFAULT_FIELDS, field_boosts=FIELD_BOOSTS)
            except ValueError as exc:  # a gap between our grammar and tantivy's: refuse, don't crash
                raise _err(query, f"the search engine rejected it ({exc})", None) from exc
    return result


@lru_cache(maxsize=1)
def _validator() -> tantivy.Index:
    return tantivy.Index(SCHEMA)


def validate_query(query: str) -> str:
    """Return the normalised interests query, or raise QueryError with a 0-based `position`
    into `query` and a hint. Blank is valid ("no interests") and normalises to ""."""
    return _analyse(query).canonical


# ---------------------------------------------------------------- index and ranking


def _desc_time(value) -> tuple[bool, float]:
    """Sort part putting newer first and None last; dates and datetimes (naive = UTC) mix."""
    if value is None:
        return (True, 0.0)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return (False, -(value.toordinal() + (value - datetime.combine(value.date(), datetime.min.time())).total_seconds() / 86400))
    return (False, -float(value.toordinal()))


def _tiebreak(p: Paper) -> tuple:
    return (p.upvotes is None, -(p.upvotes or 0), _desc_time(p.published), _desc_time(p.listing_day),
            _desc_time(p.first_seen), p.key is None, p.key or "", p.id is None, p.id or 0)


class _LRU(OrderedDict):
    def __init__(self, size: int = _CACHE_SIZE):
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class PaperIndex:
    """An immutable in-RAM index over candidate papers, with caches shared by all queries.

    Build with `build_index`. Not thread-safe (the caches are plain dicts)."""

    def __init__(self, papers: list[Paper], index: tantivy.Index, docs: list[tantivy.Document]):
        self.papers = papers
        self._index = index
        self._searcher = index.searcher()
        self._docs = docs
        self._ids = [_NEWEST if p.id is None else p.id for p in papers]
        self._min_id = min(self._ids, default=0)
        order = sorted(range(len(papers)), key=lambda k: (_tiebreak(papers[k]), k))
        self._order = order  # positions in tie-break order
        self._rank = [0] * len(papers)
        for r, k in enumerate(order):
            self._rank[k] = r
        self._queries: dict[str, tantivy.Query] = {}
        self._leaf_docs: dict[str, frozenset[int]] = {}
        self._results = _LRU()
        self._snippets = _LRU()
        self._generators = _LRU(4096)

    def __len__(self) -> int:
        return len(self.papers)

    def _query(self, text: str) -> tantivy.Query:
        if (q := self._queries.get(text)) is None:
            q = self._queries[text] = self._index.parse_query(text, DEFAULT_FIELDS, field_boosts=FIELD_BOOSTS)
        return q

    def _matching(self, text: str) -> frozenset[int]:
        """Positions of every paper matching the tantivy query `text` (cached)."""
        if (found := self._leaf_docs.get(text)) is None:
            hits = self._searcher.search(self._query(text), max(len(self.papers), 1), count=False).hits
            found = frozenset(self._searcher.fast_field_values("pos", [a for _, a in hits]))
            self._leaf_docs[text] = found
        return found

    def _search(self, a: _Analysed, limit: int, min_score: float, after_id: int) -> list[tuple[int, float]]:
        """The (position, score) of the best `limit` papers, in final order."""
        query = self._query(a.tantivy_text)
        if after_id >= self._min_id:
            cursor = tantivy.Query.range_query(SCHEMA, "id", tantivy.FieldType.Integer,
                                               lower_bound=after_id, include_lower=False)
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (
                tantivy.Occur.Must, tantivy.Query.const_score_query(cursor, 0.0))])
        fetch = limit + 1
        while True:  # widen until the cut falls between two different scores: ties sort below
            hits = self._searcher.search(query, fetch, count=False).hits
            scores = [round(s, 4) for s, _ in hits]
            if len(hits) < fetch or scores[limit - 1] > scores[-1] or scores[limit - 1] < min_score:
                break
            fetch *= 4
        positions = self._searcher.fast_field_values("pos", [a for _, a in hits])
        found = sorted((-s, self._rank[p], p) for s, p in zip(scores, positions) if s >= min_score)
        return [(p, -s) for s, _, p in found[:limit]]

    def _browse(self, a: _Analysed, limit: int, after_id: int) -> list[tuple[int, float]]:
        """Blank or exclusion-only query: the top papers by upvotes, then recency."""
        excluded = self._matching(a.excluding) if a.excluding else frozenset()
        out: list[tuple[int, float]] = []
        for p in self._order:
            if len(out) >= limit:
                break
            if self._ids[p] > after_id and p not in excluded:
                out.append((p, 0.0))
        return out

    def _ranked(self, a: _Analysed, limit: int, min_score: float, after_id: int) -> list[RankedPaper]:
        if limit <= 0 or not self.papers:
            return []
        key = (a.canonical, limit, min_score if a.tantivy_text else 0.0, after_id)
        if (rows := self._results.get(key)) is None:
            top = self._search(a, limit, min_score, after_id) if a.tantivy_text else self._browse(a, limit, after_id)
            rows = self._results.put(key, tuple(self._explain(a, p, s) for p, s in top))
        return [RankedPaper(self.papers[p], s, m, sn) for p, s, m, sn in rows]

    def _explain(self, a: _Analysed, pos: int, score: float) -> tuple:
        hit = [(text, shown) for text, shown in a.leaves if pos in self._matching(text)]
        matched = tuple(dict.fromkeys(shown for _, shown in hit))
        return (pos, score, matched, self._snippet(pos, tuple(sorted({t for t, _ in hit}))))

    def _snippet(self, pos: int, leaf_texts: tuple[str, ...]) -> str:
        """HTML: the abstract passage (else the title) with the matched words in <b>."""
        key = (pos, leaf_texts)
        if (cached := self._snippets.get(key)) is not None:
            return cached
        doc, paper = self._docs[pos], self.papers[pos]
        html_text = None
        if leaf_texts:
            for field, text in (("abstract", paper.abstract), ("title", paper.title)):
                snip = self._generator(leaf_texts, field).snippet_from_doc(doc)
                if snip.highlighted():
                    html_text = _with_ellipses(snip, text)
                    break
        if html_text is None:
            html_text = _lead(paper.abstract or paper.title or "")
        return self._snippets.put(key, html_text)

    def _generator(self, leaf_texts: tuple[str, ...], field: str) -> tantivy.SnippetGenerator:
        key = (leaf_texts, field)
        if (gen := self._generators.get(key)) is None:
            query = self._query(" ".join(leaf_texts))
            gen = tantivy.SnippetGenerator.create(self._searcher, query, SCHEMA, field)
            gen.set_max_num_chars(SNIPPET_CHARS)
            self._generators.put(key, gen)
        return gen


def _with_ellipses(snip: tantivy.Snippet, text: str) -> str:
    start, end = snip.fragment_range()
    size = len(text.strip().encode())
    return ("…" if start > 0 else "") + snip.to_html() + ("…" if end < size else "")


def _lead(text: str) -> str:
    """The first ~SNIPPET_CHARS characters, cut at a word boundary, HTML-escaped."""
    text = " ".join(text.split())
    if len(text) <= SNIPPET_CHARS:
        return html.escape(text)
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return html.escape(text[: cut if cut > 0 else SNIPPET_CHARS]) + "…"


def build_index(papers: Sequence[Paper]) -> PaperIndex:
    """Index `papers` in RAM. A paper without `id` passes every cursor (treated as newest)."""
    papers = list(papers)
    index = tantivy.Index(SCHEMA)
    writer = index.writer(heap_size=64_000_000, num_threads=1)  # one segment: stable doc order
    docs = []
    for pos, p in enumerate(papers):
        doc = tantivy.Document(title=p.title or "", abstract=p.abstract or "",
                               id=_NEWEST if p.id is None else p.id, pos=pos)
        for name in (*p.authors, *([p.organization] if p.organization else [])):
            doc.add_text("author", name)
        writer.add_document(doc)
        docs.append(doc)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return PaperIndex(papers, index, docs)


def rank(index: PaperIndex, query: str, *, limit: int = 10, min_score: float = 0.0,
         after_id: int = 0) -> list[RankedPaper]:
    """Papers with id > `after_id` matching `query` with score >= `min_score`, best first,
    at most `limit`. Order: score desc, upvotes desc (None last), newer published /
    listing_day / first_seen, then key. A blank or exclusion-only query returns the top papers
    by upvotes with score 0 and no `matched` (`min_score` does not apply). Raises QueryError."""
    return index._ranked(_analyse(query), limit, min_score, after_id)


def rank_subscribers(index: PaperIndex, subscribers: Iterable[Subscriber]
                     ) -> Iterator[tuple[Subscriber, list[RankedPaper]]]:
    """`rank` for each subscriber (interests, max_papers, min_score, cursor), in input order.
    A subscriber whose stored interests no longer parse gets [] and a logged warning."""
    for sub in subscribers:
        try:
            analysed = _analyse(sub.interests or "")
        except QueryError as exc:
            log.warning("subscriber %s: interests ignored: %s", sub.id or sub.email, exc)
            yield sub, []
            continue
        yield sub, index._ranked(analysed, sub.max_papers, sub.min_score, sub.cursor)
