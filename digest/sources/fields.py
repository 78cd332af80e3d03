"""Field helpers every source shares: plain text from whatever a listing holds (junk and
invisible characters out, HTML to lines), author lists without "et al.", arXiv ids and links.

Pure: strings in, strings out. `feed`, `hf_api`, `hf_page`, `library` and the store's id
lookups use them, so a title or an id reads the same from every source.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import nh3

_ID = r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(?:v\d+)?(?!\d)"
_ID_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|oai:arxiv\.org:|huggingface\.co/papers/|\barxiv:\s?)" + _ID, re.I
)
_BARE_ID = re.compile(r"\s*(?:arxiv:)?" + _ID + r"\s*", re.I)
_ET_AL = re.compile(r"\s*,?\s+(?:et(?:\.\s*|\s+)al\b\.?|and\s+others)$", re.IGNORECASE)
_NOT_NAMES = {"et al", "et al.", "et. al.", "et.al.", "others", "and others", "..."}
# Control characters, lone surrogates and non-characters would break JSON/XML/email output.
# Invisible characters (zero-width spaces and joiners, soft hyphens, BOMs, direction marks,
# bidi embeddings, overrides and isolates) are removed, not spaced: a title must read the same
# from every source ("Trans\u200bformer" is "Transformer" on the HF page), or the same paper
# would be stored twice; and an override or isolate would reorder what an email, a feed reader
# or a page shows around it ("Trojan Source").
# A regular expression, not str.translate: translate looks every character up in a dict
# (0.9 s for a 21 MB page, the regex 0.07 s).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\u2066-\u2069\ufeff\u202a-\u202e]")
_JUNK = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Tags that end a line of text; every other tag is dropped and its text kept.
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table",
               "hr", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "section", "figure"}
_INLINE_TAGS = {"a", "abbr", "b", "big", "cite", "code", "del", "em", "font", "i", "img", "ins",
                "kbd", "mark", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "tt",
                "u", "var", "wbr", "script", "style", "iframe", "video", "audio", "picture", "svg",
                "math", "html", "head", "body", "title", "meta", "link", "noscript", "tbody", "thead"}
# A "<" that opens no real HTML tag is text: abstracts say "n<k" and "an in-vocabulary <SEG>".
_NOT_A_TAG = re.compile(r"<(?!!--|/?(?:%s)\b)" % "|".join(sorted(_BLOCK_TAGS | _INLINE_TAGS)), re.I)


def drop_invisible(text: str) -> str:
    """`text` without zero-width characters, soft hyphens, direction marks, bidi controls and BOMs."""
    return _INVISIBLE.sub("", text)


def clean_text(value: object) -> str:
    """Plain text on one line: junk characters dropped, whitespace runs collapsed, stripped.

    Non-strings give "". "<" and "&" are left alone: the input is taken to be plain text.
    """
    if not isinstance(value, str):
        return ""
    if not value.isascii():
        value = drop_invisible(value)
    return " ".join(_JUNK.sub(" ", value).split())


def html_to_text(value: object) -> str:
    """An HTML fragment as text, one line per block element (lines not yet cleaned).

    Tags go (images, scripts and styles with their content), entities are unescaped, and a
    "<" that opens no known HTML tag is kept as text.
    """
    if not isinstance(value, str):
        return ""
    value = _JUNK.sub(" ", value)
    try:
        cleaned = nh3.clean(_NOT_A_TAG.sub("&lt;", value), tags=_BLOCK_TAGS, attributes={})
    except Exception:  # nh3 is a native extension; never let it break the parser's contract
        cleaned = html.escape(value)
    # nh3 escapes every "<" in text, so each "<...>" left is one of the block tags.
    return html.unescape(re.sub(r"<[^>]*>", "\n", cleaned))


def without_et_al(names: Iterable[str]) -> tuple[str, ...]:
    """Author names without the "et al." / "others" a listing puts for the ones it leaves out.

    "Ann Lee et al." -> "Ann Lee"; a name that is only "et al." or "others" is no author.
    """
    kept = (_ET_AL.sub("", clean_text(name)) for name in names)
    return tuple(name for name in kept if name and name.casefold() not in _NOT_NAMES)


def normalize_arxiv_id(value: object) -> str | None:
    """A bare arXiv id ("2609.26811v2", "arXiv:cond-mat/0102536v1") without its version, else None."""
    match = _BARE_ID.fullmatch(value) if isinstance(value, str) else None
    return match.group("id") if match else None


def find_arxiv_id(value: object) -> str | None:
    """The versionless arXiv id in an arXiv/HF URL, an OAI guid or an "arXiv:" mention, else None."""
    match = _ID_IN_TEXT.search(value) if isinstance(value, str) else None
    return match.group("id") if match else None


def arxiv_links(arxiv_id: str, *, hf: bool = False) -> dict[str, str]:
    """Canonical, versionless abs/pdf links for an arXiv id, plus the HF paper page if asked."""
    links = {"abs": f"https://arxiv.org/abs/{arxiv_id}", "pdf": f"https://arxiv.org/pdf/{arxiv_id}"}
    if hf:
        links["hf"] = f"https://huggingface.co/papers/{arxiv_id}"
    return links


def http_url(value: object) -> str | None:
    """The value if it is one http(s) URL; other schemes (javascript:, data:) give None."""
    url = clean_text(value)
    return url if re.fullmatch(r"https?://[^\s<>\"]+", url, re.I) else None
