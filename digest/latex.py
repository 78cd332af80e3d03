"""arXiv LaTeX as Unicode text: `6.01$\\times$` -> `6.01×`. Pure; used by `digest.text`.

pylatexenc parses and supplies the Unicode tables; this module decides what to hand it.
Its parser reads ~5 µs per character, so a whole abstract costs milliseconds. Instead a
regular-expression scan cuts the text into plain runs, copied as they are, and markup
pieces (`$...$`, `\\cmd{...}`, `{...}`, `--`, `~`), and only the pieces are parsed, each
once per process (`_piece_text` is cached: `$\\times$` and `\\%` recur in thousands of
abstracts). On the July 2026 arXiv corpus that is ~20x faster than parsing whole abstracts
(270 against 5,000 µs per paper with markup; see `digest.text` and bench_text.py).

Rules for what arXiv abstracts hold:

* math keeps its symbols (`$\\mathcal{O}(n^2)$` -> `𝒪(n²)`): sub/superscripts become
  Unicode ones when every character has one, else `x_old` / `x^(n+1)`;
* a bare `%` is a per cent sign, not a comment (arXiv's metadata leaves most unescaped);
  a `~` with a space beside it means "about" and stays; `$5 and $10` are prices;
* links are kept as written, apart from TeX escapes in them (`github.io/\\#swantale`);
* an author's own macro shows as its name (`\\method` -> "method"), `\\revise{text}` as
  its text, a braced list keeps its braces (`{1,2,4,8}`): text is never silently dropped;
* a brace, `$` or environment that does not close, and a piece pylatexenc cannot read,
  are kept as written; the rest is still rendered. Nothing is lost, nothing raises.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pylatexenc import latexwalker, macrospec
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, SpecialsTextSpec, get_default_latex_context_db

# Anything this module would change. Text without one of these is returned as it is.
MARKUP = re.compile(r"[\\$~`{}]|--|''")
_MARKS = ("\\", "$", "~", "`", "{", "}", "--", "''")  # the same, for a faster test with `in`
PIECE_CACHE = 32_768  # distinct markup pieces; an entry is a few dozen bytes

# Where a markup piece may start. Math first, then environments, macros, groups, specials.
# The lookahead lets the engine skip plain characters fast: 5x quicker than the bare alternation.
_START = re.compile(r"(?=[\\$^_{}~`'-])(?:\$\$?|\\[(\[]|\\begin\{[^{}\\]*\}|\\[A-Za-z@]+|\\.|[\^_]?\{|\}|---?|``|''|~)", re.S)
_BRACES = re.compile(r"\\.|[{}]", re.S)
_MACRO = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
_SPACES = re.compile(r"\s*")
_URL = re.compile(r"(?:https?://|www\.)[^\s{}<>\"]+")
_URL_ESCAPE = re.compile(r"\\([#_%&$~])")
_SLOT = 0xF0000  # supplementary private use area A: one character stands for one link
_SLOTS = re.compile("[\U000F0000-\U000FFFFD]")
_BARE_PERCENT = re.compile(r"(?<!\\)%")
# pylatexenc reads "\fracη" as one macro name (str.isalpha); TeX reads \frac, then η.
_GLUED_LETTER = re.compile(r"(\\[A-Za-z@]+)(?=[^\x00-\x7f])(?=\w)")
# RTF's \'92 (Windows-1252 ’) pasted from a word processor: "the EU AI Act\'92s".
_RTF_ESCAPE = re.compile(r"\\'([89][0-9a-fA-F])")
_INLINE_SCRIPT = re.compile(r"([\^_])([^\s^_])")  # x^2, a_i inside maths
_PROSE = re.compile(r"\s[A-Za-z]{2,}\s")  # a plain word between spaces: text, not maths
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_SIMPLE = {"--": "–", "---": "—", "``": "“", "''": "”", "\\%": "%", "\\&": "&", "\\_": "_", "\\#": "#",
           "\\$": "$", "\\{": "{", "\\}": "}", "\\\\": " ", "\\,": " ", "\\ ": " ", "\\;": " ", "\\!": ""}

_SUPERSCRIPT = dict(zip(
    "0123456789+-−=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWαβγδεθιφχ∗*′'⊤",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵅᵝᵞᵟᵋᶿᶥᵠᵡ**′′ᵀ", strict=True,
))
_SUBSCRIPT = dict(zip("0123456789+-−=()aehijklmnoprstuvxβγρφχ", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ", strict=True))


class _Unbalanced(Exception):
    """A brace, `$` or environment does not close: that token is shown as written."""


def latex_to_text(text: str) -> str:
    """`text` with its LaTeX rendered as Unicode and whitespace tidied; never raises.

    Paragraph breaks (a blank line) are kept, every other whitespace run is one space.
    """
    if not has_markup(text):
        return _tidy(text) if ("\n" in text or "  " in text or "\t" in text) else text
    urls: list[str] = []
    body = text
    if ("://" in text or "www." in text) and not _SLOTS.search(text):
        body = _URL.sub(lambda m: _slot(urls, m.group()), text)
    if "\\" in body:
        body = _GLUED_LETTER.sub(r"\1 ", _RTF_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]).decode("cp1252", "replace"), body))
    out = "".join(_piece_text(piece) if markup else piece for markup, piece in _pieces(body))
    if urls:
        out = _SLOTS.sub(lambda m: _URL_ESCAPE.sub(r"\1", urls[ord(m.group()) - _SLOT]), out)
    return _tidy(out)


def _tidy(text: str) -> str:
    return "\n\n".join(" ".join(part.split()) for part in _PARAGRAPH.split(text.strip()) if part.strip())


def has_markup(text: str) -> bool:
    """True when `latex_to_text` could change more than whitespace (7 substring scans: ~1 µs)."""
    return any(mark in text for mark in _MARKS)


def _slot(urls: list[str], url: str) -> str:
    urls.append(url)
    return chr(_SLOT + len(urls) - 1)


# --- cutting the text into plain runs and markup pieces ---------------------------------


def _pieces(text: str) -> list[tuple[bool, str]]:
    """(is markup, piece) in order. A brace, `$` or environment that does not close stays as
    written (one stray brace does not keep the rest of an abstract raw)."""
    pieces: list[tuple[bool, str]] = []
    pos = 0
    while (found := _START.search(text, pos)) is not None:
        if found.start() > pos:
            pieces.append((False, text[pos:found.start()]))
        try:
            end, literal = _piece_end(text, found)
        except _Unbalanced:
            end, literal = found.end(), True
        pieces.append((not literal, text[found.start():end]))
        pos = end
    if pos < len(text):
        pieces.append((False, text[pos:]))
    return pieces


def _piece_end(text: str, found: re.Match) -> tuple[int, bool]:
    """Where the piece starting at `found` ends, and whether it is literal text after all."""
    token, end = found.group(), found.end()
    if token in ("$", "$$"):
        return _math_end(text, token, end)
    if token in ("\\(", "\\["):
        return _closing(text, "\\)" if token == "\\(" else "\\]", end), False
    if token.startswith("\\begin{"):
        return _closing(text, "\\end{" + token[7:], end), False
    if token.endswith("{"):
        return _group_end(text, end - 1), False
    if token == "}":
        raise _Unbalanced
    if token == "~":  # "~10k" is "about 10k"; "Fig.~3" is a tie (a no-break space)
        before = text[found.start() - 1:found.start()]
        tie = (before.isalnum() or before in (".", ",", ")")) and text[end:end + 1].strip()
        return end, not tie
    if token[0] == "\\":
        return _macro_end(text, token[1:], end), False
    return end, False


def _math_end(text: str, token: str, end: int) -> tuple[int, bool]:
    """End of a $...$ / $$...$$ span; a lone or price-like `$` before a digit is a dollar sign."""
    close = end
    while (close := text.find(token, close)) > 0 and text[close - 1] == "\\":
        close += 1
    # "$10,000 for", "$5 and $10": a digit after the $, and no closing $ or prose before it.
    price = text[end:end + 1].isdigit() and (close < 0 or _PROSE.search(text, end, close) is not None)
    if price:
        return end, True
    if close < 0:
        raise _Unbalanced
    return close + len(token), False


def _closing(text: str, closing: str, end: int) -> int:
    close = text.find(closing, end)
    if close < 0:
        raise _Unbalanced
    return close + len(closing)


def _group_end(text: str, start: int) -> int:
    """The index after the brace matching the one at `start` (escaped braces skipped)."""
    depth = 0
    for brace in _BRACES.finditer(text, start):
        if brace.group() == "{":
            depth += 1
        elif brace.group() == "}":
            depth -= 1
            if depth == 0:
                return brace.end()
    raise _Unbalanced


def _macro_end(text: str, name: str, end: int) -> int:
    """After a macro's arguments, as its spec names them; an unknown macro takes adjacent groups."""
    spec = _WALKER_CONTEXT.get_macro_spec(name)
    argspec = spec.args_parser.argspec if spec is not None and spec.args_parser.argspec else None
    if argspec is None:
        while text.startswith("{", end):
            end = _group_end(text, end)
        return end
    for kind in argspec:
        probe = _SPACES.match(text, end).end() if name.isalpha() else end
        if kind == "*":
            end += text.startswith("*", end)
        elif kind == "[" and text.startswith("[", probe):
            close = text.find("]", probe)
            end = close + 1 if close > 0 else end
        elif kind == "{" and probe < len(text):
            if text[probe] == "{":
                end = _group_end(text, probe)
            elif (macro := _MACRO.match(text, probe)) is not None:
                end = macro.end()
            elif not text[probe].isspace():
                end = probe + 1
    return end


# --- converting one piece -----------------------------------------------------------------


@lru_cache(maxsize=PIECE_CACHE)
def _piece_text(piece: str) -> str:
    """One markup piece as text; a piece pylatexenc cannot read is kept as written."""
    if piece in _SIMPLE:
        return _SIMPLE[piece]
    if piece == "~":
        return "\xa0"
    try:
        nodes = latexwalker.LatexWalker(_BARE_PERCENT.sub(r"\\%", piece), latex_context=_WALKER_CONTEXT,
                                        tolerant_parsing=False).get_latex_nodes()[0]
        return _CONVERTER.nodelist_to_text(nodes)
    except Exception:  # a third-party parser on arbitrary text: any failure means "as written"
        return piece


def _frac(node, l2tobj) -> str:
    """a/b, with parentheses around a part longer than one token: (n+1)/2."""
    parts = [l2tobj.nodelist_to_text([arg]).strip() if arg is not None else "" for arg in node.nodeargd.argnlist]
    return "/".join(p if re.fullmatch(r"[\w.]+|\S", p) else f"({p})" for p in parts)


def _href(node, l2tobj) -> str:
    """\\href{url}{text} -> "text (url)", or the url alone when the text is the url."""
    url, text = (l2tobj.nodelist_to_text([arg]).strip() if arg is not None else "" for arg in node.nodeargd.argnlist)
    return url if not text or text == url else f"{text} ({url})"


def _unicode_char(node, l2tobj) -> str:
    r"""\unicode{x2013} -> the character; anything unreadable -> nothing."""
    code = l2tobj.nodelist_to_text([node.nodeargd.argnlist[0]]).strip().lstrip("xX")
    try:
        return chr(int(code, 16))
    except (ValueError, OverflowError):
        return ""


# (name, argument spec for the parser, text: a string, a callable, "args" or "" to drop).
# Math alphabets other than \mathcal/\mathbb/\mathfrak show as plain letters: 𝐱 or 𝖣𝖰𝖢
# render poorly in mail clients and defeat search.
_EXTRA_MACROS = [
    ("href", "{{", _href), ("url", "{", "%s"), ("frac", "{{", _frac), ("tfrac", "{{", _frac), ("dfrac", "{{", _frac),
    ("unicode", "{", _unicode_char), ("texttt", "{", "args"), ("textsf", "{", "args"), ("textsc", "{", "args"),
    ("textup", "{", "args"), ("textnormal", "{", "args"), ("textmd", "{", "args"), ("mbox", "{", "args"),
    ("boldsymbol", "{", "args"), ("bm", "{", "args"), ("operatorname", "*{", "args"), ("mathnormal", "{", "args"),
    ("mathbf", "{", "args"), ("mathsf", "{", "args"), ("mathtt", "{", "args"), ("mathit", "{", "args"),
    ("mathrm", "{", "args"), ("textcolor", "[{{", "%(3)s"), ("colorbox", "[{{", "%(3)s"),
    ("footnote", "[{", " (%(2)s)"), ("cite", "*[[{", ""), ("citep", "*[[{", ""), ("citet", "*[[{", ""),
    ("ref", "{", ""), ("eqref", "{", ""), ("label", "{", ""), ("SI", "[{{", "%(2)s %(3)s"), ("si", "[{", "%(2)s"),
    ("num", "[{", "%(2)s"), ("eg", "", "e.g."), ("ie", "", "i.e."), ("etal", "", "et al."), ("etc", "", "etc."),
    ("vs", "", "vs."), ("S", "", "§"), ("land", "", "∧"), ("lor", "", "∨"), ("ker", "", "ker"), ("xspace", "", ""),
]
_SWITCHES = ["left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
             "middle", "rm", "em", "it", "bf", "sf", "tt", "sl", "sc", "displaystyle", "textstyle", "scriptstyle",
             "small", "footnotesize", "normalsize", "large", "Large", "noindent", "centering", "relax"]


def _text_spec(name: str, text) -> MacroTextSpec:
    if text == "args":
        return MacroTextSpec(name, discard=False)
    return MacroTextSpec(name, simplify_repl=text) if text else MacroTextSpec(name, discard=True)


def _contexts() -> tuple[macrospec.LatexContextDb, macrospec.LatexContextDb]:
    """(parser context, text context): pylatexenc's defaults plus the arXiv extras above."""
    walker = latexwalker.get_default_latex_context_db()
    walker.add_context_category("digest", prepend=True, macros=[
        macrospec.MacroSpec(name, args) for name, args, _ in _EXTRA_MACROS] + [
        macrospec.MacroSpec(name, "") for name in _SWITCHES])
    text = get_default_latex_context_db()
    text.add_context_category(
        "digest", prepend=True,
        macros=[_text_spec(name, repl) for name, _, repl in _EXTRA_MACROS] + [_text_spec(name, "") for name in _SWITCHES],
        specials=[SpecialsTextSpec("&", "&")],  # "R&D", "Q&A": not a table cell
    )
    return walker, text


class _Converter(LatexNodes2Text):
    """pylatexenc's text conversion, plus: Unicode scripts, author macros kept, braced lists."""

    def __init__(self, text_context: macrospec.LatexContextDb):
        super().__init__(latex_context=text_context, math_mode="text")
        self._math = 0

    def nodelist_to_text(self, nodelist) -> str:
        """The nodes' text; `^`/`_` before an argument become scripts (in text only before a group)."""
        nodes = self._pair_author_macros(nodelist)
        parts: list[str] = []
        pending = ""  # a ^ or _ waiting for its argument
        for index, node in enumerate(nodes):
            if node.isNodeType(latexwalker.LatexCharsNode):
                after = nodes[index + 1] if index + 1 < len(nodes) else None
                pending = self._chars(node.chars, pending, after, parts)
                continue
            text = self.node_to_text(node)
            if pending:
                text, pending = _script(pending, text), ""
            else:
                text = self._spaced(node, text, parts[-1][-1:] if parts else "")
            parts.append(text)
        return "".join(parts) + pending

    def _chars(self, chars: str, pending: str, after, parts: list[str]) -> str:
        """Append plain characters to `parts`; returns the ^ or _ left waiting for an argument."""
        if pending and chars:
            parts.append(_script(pending, chars[0]))
            chars, pending = chars[1:], ""
        group_after = after is not None and after.isNodeType(latexwalker.LatexGroupNode)
        if chars[-1:] in ("^", "_") and (self._math or group_after):
            chars, pending = chars[:-1], chars[-1]
        parts.append(_INLINE_SCRIPT.sub(lambda m: _script(m[1], m[2]), chars) if self._math else chars)
        return pending

    def _spaced(self, node, text: str, before: str) -> str:
        """A macro's text with the spaces TeX swallows where they read better.

        "\\ours is", "$\\log n$", "$d\\log S$", "$2 \\times 3$" keep their spaces; "$2\\pi r$" is "2πr".
        """
        if not text or not node.isNodeType(latexwalker.LatexMacroNode) or (node.nodeargd and node.nodeargd.argnlist):
            return text
        word = len(text) > 1 and text.isalpha()
        if self._math and word and before.isalnum():
            text = " " + text
        if not self._math or word or before.isspace():
            text += node.macro_post_space[:1]
        return text

    def math_node_to_text(self, node) -> str:
        self._math += 1
        try:
            return super().math_node_to_text(node)
        finally:
            self._math -= 1

    def macro_node_to_text(self, node) -> str:
        if self.latex_context.get_macro_spec(node.macroname) is None:
            return node.macroname  # an author's macro (\method): its name beats nothing
        return super().macro_node_to_text(node)

    def group_node_to_text(self, node) -> str:
        text = super().group_node_to_text(node)
        # {1,2,4,8} and min{a, b} are sets and arguments; 3{,}145 and {\em x} are markup.
        return "{" + text + "}" if not self._math and "," in text and text.strip() != "," else text

    def _pair_author_macros(self, nodelist) -> list:
        r"""\revise{text} -> text, \ours{} -> ours: an unknown macro takes the group right after it."""
        nodes = [node for node in nodelist if node is not None]
        for i in range(len(nodes) - 1):
            node, after = nodes[i], nodes[i + 1]
            if (node is not None and node.isNodeType(latexwalker.LatexMacroNode) and not node.macro_post_space
                    and after is not None
                    and after.isNodeType(latexwalker.LatexGroupNode)
                    and self.latex_context.get_macro_spec(node.macroname) is None):
                filled = any(not n.isNodeType(latexwalker.LatexCharsNode) or n.chars.strip() for n in after.nodelist)
                nodes[i], nodes[i + 1] = (after if filled else node), None
        return [node for node in nodes if node is not None]


def _script(kind: str, text: str) -> str:
    """n² for ^2, xᵢ for _i; x^(n+1) / x_old when some character has no script form."""
    text = text.strip()
    table = _SUPERSCRIPT if kind == "^" else _SUBSCRIPT
    if text and all(c in table for c in text):
        return "".join(table[c] for c in text)
    if len(text) == 1 or (text.isalnum() and kind == "_"):
        return kind + text
    return f"{kind}({text})" if text else ""


_WALKER_CONTEXT, _TEXT_CONTEXT = _contexts()
_CONVERTER = _Converter(_TEXT_CONTEXT)
