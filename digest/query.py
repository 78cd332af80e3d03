"""The interests query language: text -> a checked tree, and the tree back to text.

A small parser of our own in front of tantivy's: it refuses what tantivy would misread,
gives every error a 0-based position and a hint, rewrites comma lists, and renders the
canonical text that tantivy's parser then reads. See `digest.ranking` for the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.errors import QueryError

FIELDS = ("title", "abstract", "author")
MAX_QUERY_CHARS = 1000
MAX_DEPTH = 8
_UNSUPPORTED = "^*~[]{}"
_KEYWORDS = {"OR", "AND", "NOT", "IN", "TO"}
_BARE = re.compile(r"[^\W_][\w.-]*")  # \w: str.isalnum() or "_"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word phrase field - OR AND ( ) ,
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Leaf:
    field: str | None
    text: str  # as the user wrote it (phrases with whitespace collapsed)
    phrase: bool


@dataclass(frozen=True, slots=True)
class Not:
    child: object


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple
    explicit: tuple  # explicit[i]: the user wrote OR before items[i]


@dataclass(frozen=True, slots=True)
class _Group:
    inner: Or


def _clean_phrase(text: str) -> str:
    # A backslash would escape tantivy's closing quote; the tokenizer drops it anyway.
    return " ".join(text.replace("\\", " ").split())


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def lex(q: str) -> list[_Tok]:
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
                raise query_error(q, "unbalanced quote: this \" is never closed", i, 'add the closing "')
            text = _clean_phrase(q[i + 1 : end])
            if _has_alnum(text):
                toks.append(_Tok("phrase", text, i))
            i = end + 1
        elif c == "-":
            if i + 1 >= n or q[i + 1].isspace() or q[i + 1] in "),":
                raise query_error(q, "lone '-': nothing to exclude", i, "write -word with no space")
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
            raise query_error(q, f"unknown field '{name}:'", i,
                       "fields are title:, abstract:, author:; quote text that contains a colon")
        toks.append(_Tok("field", name.lower(), i))
        i = colon + 1
        if i < end and q[i] == "-":
            raise query_error(q, "'-' inside a field", i, f"put it first: -{name.lower()}:word")
    word = q[i:end]
    for k, ch in enumerate(word):
        if ch in _UNSUPPORTED:
            raise query_error(q, f"unsupported character '{ch}'", i + k,
                       "boosts, wildcards, slop and ranges are not supported; quote the text")
    if word in ("OR", "AND"):
        toks.append(_Tok(word, word, i))
    elif word == "NOT":
        toks.append(_Tok("-", word, i))
    elif _has_alnum(word):
        toks.append(_Tok("word", word, i))
    return end


def query_error(q: str, message: str, pos: int | None, hint: str = "") -> QueryError:
    return QueryError(message, query=q, position=pos, hint=hint)


class Parser:
    """Recursive descent over `lex` tokens: or := and+ (OR-joined), and := unary (AND unary)*."""

    def __init__(self, query: str, toks: list[_Tok]):
        self.q, self.toks, self.i = query, toks, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Or:
        if any(t.kind == "," for t in self.toks):
            return self.comma_list()
        tree = self.or_(0)
        if (t := self.peek()) is not None:  # only a ')' stops or_ early
            raise query_error(self.q, "unmatched ')'", t.pos, "remove it or add a '(' before")
        return tree

    def or_(self, depth: int) -> Or:
        items: list = []
        explicit: list[bool] = []
        pending: _Tok | None = None
        while (t := self.peek()) is not None and t.kind != ")":
            if t.kind in ("OR", "AND"):
                if t.kind == "AND" or not items or pending is not None:
                    raise query_error(self.q, f"dangling {t.kind}", t.pos, f"put a word on both sides of {t.kind}")
                if isinstance(items[-1], Not):
                    raise query_error(self.q, "OR cannot join an exclusion", t.pos, "write a b -c")
                pending = t
                self.i += 1
                continue
            node = self.and_(depth)
            if pending is not None and isinstance(node, Not):
                raise query_error(self.q, "OR cannot join an exclusion", pending.pos, "write a b -c")
            explicit.append(pending is not None)
            items.append(node)
            pending = None
        if pending is not None:
            raise query_error(self.q, "dangling OR", pending.pos, "put a word after OR or remove it")
        return Or(tuple(items), tuple(explicit))

    def and_(self, depth: int):
        parts = [self.unary(depth)]
        first_and = self.peek()
        while (t := self.peek()) is not None and t.kind == "AND":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR", "AND", ","):
                raise query_error(self.q, "dangling AND", t.pos, "put a word on both sides of AND")
            parts.append(self.unary(depth))
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(p, Not) for p in parts):
            raise query_error(self.q, "AND needs a word that is not excluded", first_and.pos)
        return And(tuple(parts))

    def unary(self, depth: int):
        t = self.peek()
        if t is not None and t.kind == "-":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("word", "phrase", "field", "("):
                raise query_error(self.q, f"nothing to exclude after {t.text}", t.pos,
                           "write -word or -\"a phrase\"")
            return Not(self.primary(depth))
        return self.primary(depth)

    def primary(self, depth: int):
        t = self.peek()
        assert t is not None  # callers check
        self.i += 1
        if t.kind == "field":
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("word", "phrase"):
                raise query_error(self.q, f"'{t.text}:' must be followed by a word or a quoted phrase",
                           t.pos, f'e.g. {t.text}:pooling or {t.text}:"token pooling"')
            self.i += 1
            return Leaf(t.text, nxt.text, nxt.kind == "phrase")
        if t.kind in ("word", "phrase"):
            return Leaf(None, t.text, t.kind == "phrase")
        if t.kind == "(":
            if depth >= MAX_DEPTH:
                raise query_error(self.q, "parentheses nested too deeply", t.pos)
            inner = self.or_(depth + 1)
            if self.peek() is None:
                raise query_error(self.q, "unbalanced '(': never closed", t.pos, "add a ')'")
            self.i += 1
            if not inner.items:
                raise query_error(self.q, "empty parentheses", t.pos, "put words inside or remove them")
            if all(isinstance(x, Not) for x in inner.items):
                raise query_error(self.q, "a group needs a word that is not excluded", t.pos)
            return _Group(inner)
        raise query_error(self.q, f"unexpected {t.text!r}", t.pos)

    def comma_list(self) -> Or:
        items: list = []
        excluded: list = []
        bad = next((t for t in self.toks if t.kind in ("OR", "AND", "(", ")")), None)
        if bad is not None:
            raise query_error(self.q, f"a comma list cannot also use {bad.text}", bad.pos,
                       "use either commas or OR/AND/parentheses")
        while self.peek() is not None:
            words: list = []
            while (t := self.peek()) is not None and t.kind != ",":
                node = self.unary(0)
                (excluded if isinstance(node, Not) else words).append(node)
            self.i += 1  # the comma (or past the end)
            if words:
                items.append(words[0] if len(words) == 1 else And(tuple(words)))
        explicit = [k > 0 for k in range(len(items))] + [False] * len(excluded)
        return Or(tuple(items + excluded), tuple(explicit))


# ---------------------------------------------------------------- tree -> text


def render(node, in_list: bool = False) -> str:
    """The canonical text, which both users and tantivy's parser read."""
    if isinstance(node, Leaf):
        prefix = f"{node.field}:" if node.field else ""
        return prefix + (node.text if _is_bare_word(node) else f'"{_clean_phrase(node.text)}"')
    if isinstance(node, Not):
        return "-" + render(node.child)
    if isinstance(node, _Group):
        return f"({render(node.inner)})"
    if isinstance(node, And):
        text = " AND ".join(render(p) for p in node.parts)
        return f"({text})" if in_list else text  # spells out that AND binds tighter than OR
    if isinstance(node, Or):
        many = len(node.items) > 1
        out = []
        for k, (item, explicit) in enumerate(zip(node.items, node.explicit)):
            if k:
                out.append(" OR " if explicit else " ")
            out.append(render(item, many))
        return "".join(out)
    raise TypeError(node)


def _is_bare_word(leaf: Leaf) -> bool:
    """Whether tantivy reads the word as written; anything else is sent as a quoted phrase."""
    return not leaf.phrase and leaf.text not in _KEYWORDS and _BARE.fullmatch(leaf.text) is not None


def positive_leaves(node, out: list[Leaf]) -> list[Leaf]:
    """Leaves a paper can match, in query order (leaves under an exclusion are left out)."""
    if isinstance(node, Leaf):
        out.append(node)
    elif isinstance(node, (_Group,)):
        positive_leaves(node.inner, out)
    elif isinstance(node, (And, Or)):
        for child in node.parts if isinstance(node, And) else node.items:
            positive_leaves(child, out)
    return out
