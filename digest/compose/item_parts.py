"""The pieces a digest is assembled from, apart from the Composer that caches them: per-paper fragments,
stand-in values that mark slots when a template is compiled to a shell, escaping for the slots, and the checks
that a template reads only what its shell fixes (used by `compose.digest_email`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2
import jinja2.meta

from digest.compose.shells import esc
from digest.compose.templates import PAPER_LINKS, safe_url
from digest.models import Paper


@dataclass(slots=True)
class _Fragment:
    """One paper's head, rendered once per run: inlined HTML and indented plain text."""

    html: str
    text: str


# Markers for the per-subscriber feedback URLs of a cached text item (plain strings, not
# `Slot`: the text template tests them, and the test is the same for every subscriber who
# gets feedback links).
_TEXT_SLOTS = {"more": "\ue000more\ue001", "less": "\ue000less\ue001"}


def _about(query: str, liked: bool) -> str:
    """The footer's reason, as HTML: their query, their likes, or the day's top papers."""
    parts = [f'with the query <span class="query">{esc(query)}</span>'] if query else []
    if liked:
        parts.append("and your digest learns from the papers you like" if query else
                     "and your digest is picked from the papers you like")
    return " ".join(parts) if parts else "to the day's most upvoted papers"


_B_TAG = re.compile(r"</?b>")
_BAD_SNIPPET = re.compile(r"[<>\x00]|&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});)")


def _is_plain_snippet(html: str) -> bool:
    """True when `html` is escaped text with balanced, unnested <b>...</b> and nothing else."""
    tags = _B_TAG.findall(html)
    if tags and tags != ["<b>", "</b>"] * (len(tags) // 2):
        return False
    return _BAD_SNIPPET.search(_B_TAG.sub("", html) if tags else html) is None


# What the subject and preheader are made of (and the site's name): see _subject_lines.
_LINE_CONTEXT = frozenset({"count", "counted", "topics", "liked", "site_name", "base_url"})
# What the plain-text templates may read for their shells (see Composer._text_shell).
_ITEM_TEXT_CONTEXT = frozenset({"head", "snippet", "why", "more", "less"})
_HEAD_TEXT_CONTEXT = frozenset({"paper", "url", "paper_links"})
_DIGEST_TEXT_CONTEXT = frozenset({"items", "heading", "preheader", "query", "liked", "links", "site_name", "base_url"})


def _reads_only(env: jinja2.Environment, name: str, allowed: frozenset[str]) -> bool:
    """True when template `name` reads no variable outside `allowed` (its filters and tests
    are pure), so its output is a function of those."""
    source = env.loader.get_source(env, name)[0] if env.loader is not None else None
    if source is None:
        return False
    return jinja2.meta.find_undeclared_variables(env.parse(source)) <= allowed


# A head's values go into a compiled shell only without what the HTML parser would change
# on the way through css-inline (NUL, CR, other controls; lone surrogates).
_PARSER_CHANGES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_URL_MARK = "http://"  # a stand-in URL's scheme, so paper_links and safe_url accept it; then dropped


def _slot_names(rendered: str) -> set[str]:
    """The slot names printed in `rendered` (markers made by `_Mark`)."""
    return set(re.findall("\ue000([A-Za-z_][A-Za-z0-9_]*)\ue001", rendered))


def _text_esc(value: str) -> str:
    """Text as the inliner's HTML serializer writes it."""
    return value.replace("&", "&amp;").replace("\u00a0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr_esc(value: str) -> str:
    """An attribute value as the inliner's HTML serializer writes it."""
    return value.replace("&", "&amp;").replace("\u00a0", "&nbsp;").replace('"', "&quot;")


def paper_links_of(paper: Paper) -> list[tuple[str, str]]:
    """(kind, URL) of each safe link the head shows, in its order (templates.paper_links)."""
    links = paper.links or {}
    return [(kind, url) for kind, _ in PAPER_LINKS if (url := safe_url(links.get(kind)))]


class _Mark(str):
    """A slot marker the head macro may test (it is true) and print; see shells.Slot."""

    def __new__(cls, name: str) -> _Mark:
        return super().__new__(cls, f"\ue000{name}\ue001")

    def __html__(self) -> str:
        return str(self)


class _Count(int):
    """An upvote count that compares as a count and prints as the "upvotes" slot."""

    def __str__(self) -> str:
        return str(_Mark("upvotes"))

    __html__ = __str__


@dataclass(frozen=True, slots=True)
class _LinksStandIn:
    """The links `digest.txt` may print when compiled into a shell."""

    manage_url: str
    unsubscribe_url: str
    feed_url: str


@dataclass(frozen=True, slots=True)
class _HeadStandIn:
    """What the head macro may read of a paper when compiled into a shell (anything else
    raises, and the shape is inlined per paper)."""

    title: str
    byline: str
    upvotes: int | None
    links: dict


def _paper_key(paper: Paper) -> str:
    """Cache key: the store's stable key, falling back to whatever identifies the paper."""
    if paper.key:
        return paper.key
    if paper.id is not None:
        return f"id:{paper.id}"
    if paper.arxiv_id:
        return f"arxiv:{paper.arxiv_id}"
    return f"anon:{paper.title}\x00{paper.url}\x00{paper.byline}\x00{paper.upvotes}"
