"""Render digests and confirmation emails to subject, plain text and inlined HTML.

Speed comes from doing the expensive work once per run, not once per message:

* The digest page (base.html + digest.html) is rendered once with every per-message
  value replaced by a *slot* marker, CSS-inlined once with css-inline, and split at the
  markers into a `_Shell`. Filling a shell is one %-format of escaped values.
* The small per-message pieces of the paper list (item wrapper, snippet paragraph,
  "why you got this" line) are macros in `_paper.html`, compiled to shells the same way.
* Each paper's head (title link, byline, upvotes) is rendered and inlined once per
  paper and cached by paper key, so subscribers sharing a paper share the work.
* Only the plain-text part and the one-line subject/preheader go through Jinja per
  message; they need no CSS.

The confirmation email is rare, so it is rendered the ordinary way: full Jinja, then
css-inline on the whole document.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import css_inline
import jinja2
import nh3
from markupsafe import Markup, escape

import digest
from digest.models import Digest, Paper, RankedPaper, Subscriber

__all__ = [
    "Composer",
    "Links",
    "RenderedEmail",
    "describe_schedule",
    "make_environment",
    "safe_url",
    "templates_dir",
]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Slot markers use Unicode private-use characters: they never occur in templates,
# survive css-inline's parse/serialise untouched (checked at compile time), and need no
# escaping in text or attribute values.
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"
_SLOT_RE = re.compile(f"{_SLOT_OPEN}([A-Za-z_][A-Za-z0-9_]*){_SLOT_CLOSE}")
_STYLE_RE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_SNIPPET_CACHE_MAX = 20_000


def templates_dir() -> Path:
    """The directory holding `email/` and `web/` templates.

    An installed wheel carries them as `digest/_templates`; a source checkout (or an
    editable install) has them at the repository's top-level `templates/`.
    """
    package = Path(digest.__file__).parent
    bundled = package / "_templates"
    return bundled if bundled.is_dir() else package.parent / "templates"


# An absolute http(s) URL with nothing that could break out of an attribute or smuggle
# whitespace: RFC 3986 characters, plus "%" escapes and non-ASCII (IRIs) left as they are.
_HTTP_URL = re.compile(r"https?://[^\s\"'<>\\`\x00-\x1f\x7f]+", re.I)


def safe_url(url: object) -> str | None:
    """`url` stripped if it is an absolute http(s) URL fit for an href, else None.

    Paper links come from third-party listings: a `javascript:` or `data:` URL, or one
    carrying whitespace or quotes, must never become a link.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    return url if _HTTP_URL.fullmatch(url) else None


def _oneline(value: object) -> str:
    """Collapse all whitespace (listing titles often carry newlines) to single spaces."""
    return " ".join(str(value).split()) if value is not None else ""


def make_environment(path: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment for the email templates (names like "email/digest.html").

    HTML templates autoescape; .txt templates do not, because the text/plain part and
    the subject are not HTML and `&amp;` there would be a visible bug. Undefined names
    fail loudly. Filters: `oneline`, `safe_url`.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path or templates_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["oneline"] = _oneline
    env.filters["safe_url"] = safe_url
    return env


@dataclass(slots=True)
class Links:
    """Per-subscriber URLs. A digest needs manage, unsubscribe and feed URLs; the
    confirmation email needs `confirm_url`. All must be absolute http(s) URLs."""

    manage_url: str = ""
    unsubscribe_url: str = ""
    feed_url: str = ""
    confirm_url: str = ""


@dataclass(slots=True)
class RenderedEmail:
    """A rendered email: `subject` is one line (no CR/LF), `text` and `html` full bodies."""

    subject: str
    text: str
    html: str


@dataclass(slots=True)
class _Fragment:
    """One paper's head, rendered once per run: inlined HTML and indented plain text."""

    html: str
    text: str


@dataclass(slots=True)
class _TextItem:
    head: str
    snippet: str
    matched: tuple[str, ...]


class _Slot(Markup):
    """A placeholder printed into a template compiled once; refuses to be tested.

    `{% if slot %}` would be decided at compile time, for every subscriber at once, so
    it raises instead of silently picking a branch.
    """

    def __new__(cls, name: str) -> "_Slot":
        return super().__new__(cls, f"{_SLOT_OPEN}{name}{_SLOT_CLOSE}")

    def __bool__(self) -> bool:
        raise TypeError("a per-message slot cannot be tested in a compiled template; print it only")

    def __iter__(self):
        raise TypeError("a per-message slot cannot be looped over in a compiled template")

    def __len__(self) -> int:
        raise TypeError("a per-message slot has no length in a compiled template")


class _Shell:
    """Rendered, CSS-inlined HTML with holes, filled by one %-format.

    `fill` trusts its values: each must already be safe HTML for where its slot sits
    (escape untrusted text with `_esc`). Escaping is the caller's job because the hot
    path knows which values are already safe and Markup round trips cost real time.
    """

    __slots__ = ("_format", "_order", "slots")

    def __init__(self, html: str, expected: Iterable[str], where: str):
        parts = _SLOT_RE.split(html)
        statics, names = parts[0::2], parts[1::2]
        for static in statics:
            if _SLOT_OPEN in static or _SLOT_CLOSE in static:
                raise ValueError(f"{where}: a slot was altered (filtered?) during compilation")
        missing = set(expected) - set(names)
        unknown = set(names) - set(expected)
        if missing or unknown:
            raise ValueError(f"{where}: slots missing {sorted(missing)}, unexpected {sorted(unknown)}")
        self._format = "%s".join(static.replace("%", "%%") for static in statics)
        self._order = tuple(names)
        self.slots = frozenset(names)

    def fill(self, **values: str) -> str:
        return self._format % tuple([values[name] for name in self._order])


def _esc(value: object) -> str:
    """HTML-escape text for element content or a quoted attribute value."""
    return str(escape(value))


def _topics(papers: list[RankedPaper], limit: int = 3) -> list[str]:
    """The most frequent matched terms across the digest, first-seen order on ties."""
    counts: dict[str, int] = {}  # insertion order is first-seen order
    for rp in papers:
        for term in rp.matched:
            counts[term] = counts.get(term, 0) + 1
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)  # stable on ties
    return [term for term in map(_oneline, ranked) if term][:limit]


_B_TAG = re.compile(r"</?b>")
_BAD_SNIPPET = re.compile(r"[<>\x00]|&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});)")


def _is_plain_snippet(html: str) -> bool:
    """True when `html` is escaped text with balanced, unnested <b>...</b> and nothing else."""
    tags = _B_TAG.findall(html)
    if tags and tags != ["<b>", "</b>"] * (len(tags) // 2):
        return False
    return _BAD_SNIPPET.search(_B_TAG.sub("", html) if tags else html) is None


def _paper_key(paper: Paper) -> str:
    """Cache key: the store's stable key, falling back to whatever identifies the paper."""
    if paper.key:
        return paper.key
    if paper.id is not None:
        return f"id:{paper.id}"
    if paper.arxiv_id:
        return f"arxiv:{paper.arxiv_id}"
    return f"anon:{paper.title}\x00{paper.url}\x00{paper.byline}\x00{paper.upvotes}"


def _require_url(url: str, what: str) -> str:
    checked = safe_url(url)
    if checked is None:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {url!r}")
    return checked


def describe_schedule(subscriber: Subscriber) -> str:
    """Human wording of when a subscriber gets mail, e.g. "Weekly on Monday at 07:00 (UTC)"."""
    hour = f"{subscriber.send_hour:02d}:00"
    tz = subscriber.timezone or "UTC"
    if subscriber.frequency == "weekly":
        day = _WEEKDAYS[subscriber.weekday] if subscriber.weekday in range(7) else "Monday"
        return f"Weekly on {day} at {hour} ({tz})"
    return f"Daily at {hour} ({tz})"


class Composer:
    """Renders emails; build one per run and reuse it for every message.

    Not thread-safe (caches are plain dicts); use one per worker. The paper cache
    assumes a paper key means the same title/byline/upvotes/link for the Composer's
    lifetime, which holds within one run; call `clear_cache()` between runs if the
    Composer is long-lived.
    """

    def __init__(
        self,
        env: jinja2.Environment | None = None,
        *,
        site_name: str = "Paper Digest",
        base_url: str = "http://localhost:8000/",
        confirm_valid_for: timedelta | None = timedelta(days=3),
    ):
        self.env = env or make_environment()
        self.site_name = _oneline(site_name)
        self.base_url = _require_url(base_url, "base_url")
        self.confirm_valid_for = confirm_valid_for
        self._base = {"site_name": self.site_name, "base_url": self.base_url}

        self._page_inliner = css_inline.CSSInliner(keep_at_rules=True, minify_css=True, load_remote_stylesheets=False)
        self._fragment_inliner = css_inline.CSSInliner(minify_css=True, load_remote_stylesheets=False)

        self._digest_page, self.css = self._compile_digest_page()
        macros = self.env.get_template("email/_paper.html").module
        self._head_macro = macros.head
        self._item = self._compile_fragment(macros.item(_Slot("head"), _Slot("extra")), ("head", "extra"), "item")
        self._snippet_shell = self._compile_fragment(macros.snippet(_Slot("html")), ("html",), "snippet")
        self._why = self._compile_fragment(macros.why(_Slot("terms")), ("terms",), "why")
        self._empty = self._fragment_inliner.inline_fragment(str(macros.empty()), self.css)

        self._text_head = self.env.get_template("email/_paper.txt")
        self._subject = self.env.get_template("email/digest.subject.txt")
        self._preheader = self.env.get_template("email/digest.preheader.txt")
        self._text = self.env.get_template("email/digest.txt")

        self._fragments: dict[str, _Fragment] = {}
        self._snippets: dict[str, tuple[str, str]] = {}
        self._why_cache: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}
        self.fragments_rendered = 0  # observable: paper heads rendered (cache misses)

    # -- compilation -------------------------------------------------------------

    _PAGE_SLOTS = ("title", "preheader", "period", "papers", "query", "manage_url", "unsubscribe_url", "feed_url")

    def _compile_digest_page(self) -> tuple[_Shell, str]:
        context = {name: _Slot(name) for name in self._PAGE_SLOTS} | self._base
        rendered = self.env.get_template("email/digest.html").render(context)
        css = "\n".join(_STYLE_RE.findall(rendered))
        inlined = self._page_inliner.inline(rendered)
        return _Shell(inlined, self._PAGE_SLOTS, "email/digest.html"), css

    def _compile_fragment(self, rendered: str, slots: tuple[str, ...], name: str) -> _Shell:
        inlined = self._fragment_inliner.inline_fragment(str(rendered), self.css)
        return _Shell(inlined, slots, f"email/_paper.html:{name}")

    # -- caches ------------------------------------------------------------------

    @property
    def cache_size(self) -> int:
        """How many paper heads are cached."""
        return len(self._fragments)

    def clear_cache(self) -> None:
        """Forget cached paper heads and snippets (e.g. between runs)."""
        self._fragments.clear()
        self._snippets.clear()
        self._why_cache.clear()

    def _fragment(self, paper: Paper) -> _Fragment:
        key = _paper_key(paper)
        fragment = self._fragments.get(key)
        if fragment is None:
            url = safe_url(paper.url)
            head = self._head_macro(paper, url)
            html = self._fragment_inliner.inline_fragment(str(head), self.css)
            text = self._text_head.render(paper=paper, url=url).rstrip("\n")
            fragment = self._fragments[key] = _Fragment(html, text)
            self.fragments_rendered += 1
        return fragment

    def _snippet(self, snippet: str) -> tuple[str, str]:
        """The snippet as safe HTML (text and <b> only) and as plain text, on one line.

        The ranker promises escaped text with <b> marks, but this is the last line
        before an inbox, so that promise is checked, not trusted: a snippet exactly in
        that form is used as it is (cheap), anything else goes through nh3, which keeps
        only <b> and drops <script>/<style> with their content. Cached by value, since
        subscribers with the same query get the same snippets.
        """
        cached = self._snippets.get(snippet)
        if cached is None:
            html = " ".join(snippet.split())
            if not _is_plain_snippet(html):
                html = " ".join(nh3.clean(html, tags={"b"}, attributes={}, strip_comments=True).split())
            text = html_lib.unescape(html.replace("<b>", "").replace("</b>", ""))
            if len(self._snippets) >= _SNIPPET_CACHE_MAX:
                self._snippets.clear()
            cached = self._snippets[snippet] = (html, text)
        return cached

    def _matched(self, matched: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        """("why" paragraph HTML, cleaned terms) for a tuple of matched terms, cached."""
        cached = self._why_cache.get(matched)
        if cached is None:
            terms = tuple(term for term in map(_oneline, matched) if term)
            html = self._why.fill(terms=_esc(", ".join(terms))) if terms else ""
            if len(self._why_cache) >= _SNIPPET_CACHE_MAX:
                self._why_cache.clear()
            cached = self._why_cache[matched] = (html, terms)
        return cached

    # -- rendering ---------------------------------------------------------------

    def render_digest(self, digest: Digest, links: Links) -> RenderedEmail:
        """Render one subscriber's digest.

        Raises ValueError when `links` lack a manage, unsubscribe or feed URL: a digest
        without a way out must never be sent.
        """
        links = Links(
            manage_url=_require_url(links.manage_url, "manage_url"),
            unsubscribe_url=_require_url(links.unsubscribe_url, "unsubscribe_url"),
            feed_url=_require_url(links.feed_url, "feed_url"),
        )
        papers = digest.papers
        period = _oneline(digest.period)
        query = _oneline(digest.subscriber.interests)

        small = {
            "count": len(papers),
            "topics": _topics(papers),
            "period": period,
            "subscriber": digest.subscriber,
            **self._base,
        }
        subject = _oneline(self._subject.render(small))
        preheader = _oneline(self._preheader.render(small))

        items_html: list[str] = []
        items_text: list[_TextItem] = []
        item_fill, snippet_fill = self._item.fill, self._snippet_shell.fill
        for rp in papers:
            fragment = self._fragment(rp.paper)
            matched = rp.matched if type(rp.matched) is tuple else tuple(rp.matched)
            why_html, terms = self._matched(matched)
            snippet_html = snippet_text = ""
            if rp.snippet:
                snippet_html, snippet_text = self._snippet(rp.snippet)
            extra = snippet_fill(html=snippet_html) + why_html if snippet_html else why_html
            items_html.append(item_fill(head=fragment.html, extra=extra))
            items_text.append(_TextItem(fragment.text, snippet_text, terms))

        html = self._digest_page.fill(
            title=_esc(subject),
            preheader=_esc(preheader),
            period=_esc(period),
            papers="".join(items_html) if items_html else self._empty,
            query=_esc(query),
            manage_url=_esc(links.manage_url),
            unsubscribe_url=_esc(links.unsubscribe_url),
            feed_url=_esc(links.feed_url),
        )
        text = self._text.render(
            items=items_text,
            period=period,
            preheader=preheader,
            query=query,
            links=links,
            **self._base,
        )
        return RenderedEmail(subject=subject, text=_finish_text(text), html=html)

    def render_confirmation(
        self,
        subscriber: Subscriber,
        links: Links,
        *,
        requested_at: datetime | None = None,
    ) -> RenderedEmail:
        """Render the double opt-in email for `subscriber` with `links.confirm_url`.

        `requested_at`, when given, is shown as the time of the request. The stated
        expiry is the Composer's `confirm_valid_for`; keep it equal to the max age the
        confirm endpoint passes to `tokens.read_token`.
        """
        confirm = _require_url(links.confirm_url, "confirm_url")
        context: dict[str, Any] = {
            "subscriber": subscriber,
            "links": Links(confirm_url=confirm),
            "schedule": describe_schedule(subscriber),
            "requested": requested_at.strftime("%d %b %Y, %H:%M %Z").strip(" ,") if requested_at else "",
            "expires": _describe_duration(self.confirm_valid_for),
        } | self._base
        subject = _oneline(self.env.get_template("email/confirm.subject.txt").render(context))
        context |= {"title": subject, "preheader": f"Confirm your {self.site_name} subscription"}
        html = self._page_inliner.inline(self.env.get_template("email/confirm.html").render(context))
        text = self.env.get_template("email/confirm.txt").render(context)
        return RenderedEmail(subject=subject, text=_finish_text(text), html=html)


def _finish_text(text: str) -> str:
    """End with exactly one newline (templates may leave blank lines at the end)."""
    return text.strip("\n") + "\n"


def _describe_duration(delta: timedelta | None) -> str:
    if not delta:
        return ""
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, int(delta.total_seconds() // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
