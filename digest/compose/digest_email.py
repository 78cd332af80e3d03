"""Render digests to subject, plain text and inlined HTML, fast: the work is per run, not per message.

* The digest page (base.html + digest.html) is compiled once into a `Shell`
  (`compose.shells`): rendered with slot markers, CSS-inlined, split at the markers.
* The small per-message pieces of the paper list (item wrapper, snippet paragraph,
  "why you got this" line) are macros in `_paper.html`, compiled to shells the same way.
* Each paper's head (title link, byline, upvotes) is rendered and inlined once per
  paper and cached by paper key, so subscribers sharing a paper share the work.
* The plain-text part and each item's text are filled into shells compiled per shape
  too, when the template reads nothing the shape does not fix; otherwise Jinja renders them.
  Subject and preheader are cached by what their templates read.

The pieces (fragments, stand-ins, escaping, template checks) live in `compose.item_parts`.
This module stays over 400 lines on purpose: it is the one `Composer`, whose caches share
one lifetime (a run) and whose methods each compile or fill one of those caches; splitting
the class would pass its caches between modules for no gain in clarity.

The confirmation email is rare and rendered the ordinary way (`compose.confirm_email`).
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import datetime, timedelta

import css_inline
import jinja2
import jinja2.meta
import nh3

from digest.compose.confirm_email import render_confirmation
from digest.compose.html_lines import collapse_style_sheets, join_lines, keeps_line_breaks
from digest.compose.item_parts import (
    _DIGEST_TEXT_CONTEXT,
    _HEAD_TEXT_CONTEXT,
    _ITEM_TEXT_CONTEXT,
    _LINE_CONTEXT,
    _PARSER_CHANGES,
    _TEXT_SLOTS,
    _URL_MARK,
    _about,
    _attr_esc,
    _Count,
    _Fragment,
    _HeadStandIn,
    _is_plain_snippet,
    _LinksStandIn,
    _Mark,
    _paper_key,
    _reads_only,
    _slot_names,
    _text_esc,
    paper_links_of,
)
from digest.compose.records import Links, RenderedEmail
from digest.compose.shells import Shell, Slot, esc, utf8
from digest.compose.templates import (
    finish_text,
    make_environment,
    oneline,
    require_url,
    safe_url,
)
from digest.compose.wording import count_of, heading, topics
from digest.models import Digest, Paper, RankedPaper, Subscriber
from digest.text import display_snippet, display_title, for_display

__all__ = ["Composer"]

_HTML_TEMPLATES = ("email/base.html", "email/digest.html", "email/_paper.html")
_STYLE_RE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
# Both per-run caches are cleared when full: a dict lookup is the hot path of every
# message, and a run rarely sees more distinct snippets than this.
_SNIPPET_CACHE_MAX = 20_000


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
        compact_html: bool = True,
    ):
        self.env = env or make_environment()
        self.site_name = oneline(site_name)
        self.base_url = require_url(base_url, "base_url")
        self.confirm_valid_for = confirm_valid_for
        self._base = {"site_name": self.site_name, "base_url": self.base_url}

        self._page_inliner = css_inline.CSSInliner(keep_at_rules=True, minify_css=True, load_remote_stylesheets=False)
        self._fragment_inliner = css_inline.CSSInliner(minify_css=True, load_remote_stylesheets=False)

        # The HTML's lines are joined (compose.html_lines) unless `compact_html` is False (the
        # templates' own line breaks, to read the HTML) or a template holds preformatted
        # content, where that would change what shows: decided once from their sources.
        self._join_lines = compact_html and self.env.loader is not None and not any(
            keeps_line_breaks(self.env.loader.get_source(self.env, name)[0]) for name in _HTML_TEMPLATES)
        self._digest_page, self.css = self._compile_digest_page()
        macros = self.env.get_template("email/_paper.html").module
        self._head_macro = macros.head
        item = self._compile_fragment(macros.item(Slot("head"), Slot("extra")), ("head", "extra"), "item")
        self._item_open, self._item_mid, item_close = item.fill(head="\ue000", extra="\ue000").split("\ue000")
        self._item_close = utf8(item_close)
        self._snippet_shell = self._compile_fragment(macros.snippet(Slot("html")), ("html",), "snippet")
        self._why = self._compile_fragment(macros.why(Slot("text")), ("text",), "why")
        self._feedback = self._compile_fragment(macros.feedback(Slot("more"), Slot("less")), ("more", "less"),
                                                "feedback")
        self._empty = utf8(self._fragment_inliner.inline_fragment(str(macros.empty()), self.css))

        self._text_head = self.env.get_template("email/_paper.txt")
        self._text_item = self.env.get_template("email/_item.txt")
        self._subject = self.env.get_template("email/digest.subject.txt")
        self._preheader = self.env.get_template("email/digest.preheader.txt")
        self._lines_cacheable = all(_reads_only(self.env, name, _LINE_CONTEXT)
                                    for name in ("email/digest.subject.txt", "email/digest.preheader.txt"))
        self._lines: dict[tuple, tuple[str, str]] = {}
        self._text = self.env.get_template("email/digest.txt")
        # Plain-text shells, compiled per shape of message (see _text_from_shell); a template
        # that reads more than its shape gives is rendered per message instead.
        self._text_item_plain = _reads_only(self.env, "email/_item.txt", _ITEM_TEXT_CONTEXT)
        self._text_head_plain = _reads_only(self.env, "email/_paper.txt", _HEAD_TEXT_CONTEXT)
        self._text_plain = _reads_only(self.env, "email/digest.txt", _DIGEST_TEXT_CONTEXT)
        self._text_shells: dict[tuple, Shell | None] = {}

        self._fragments: dict[str, _Fragment] = {}
        self._head_shells: dict[tuple, Shell | None] = {}  # None: this shape is inlined per paper
        self._snippets: dict[str, tuple[str, str]] = {}
        self._why_cache: dict[tuple, tuple[str, str]] = {}
        self._item_cache: dict[tuple, tuple[bytes, str, bool]] = {}
        self._by_ranked: dict[int, tuple] = {}  # id(ranked paper) -> (it, feedback, *_item(it, feedback))
        self.fragments_rendered = 0  # observable: paper heads rendered (cache misses)

    # -- compilation -------------------------------------------------------------

    _PAGE_SLOTS = ("title", "preheader", "heading", "papers", "about", "manage_url", "unsubscribe_url", "feed_url")

    def _compile_digest_page(self) -> tuple[Shell, str]:
        context = {name: Slot(name) for name in self._PAGE_SLOTS} | self._base
        rendered = self.env.get_template("email/digest.html").render(context)
        css = "\n".join(_STYLE_RE.findall(rendered))
        inlined = self._page_inliner.inline(rendered)
        if self._join_lines:
            inlined = collapse_style_sheets(inlined)
        return Shell(inlined, self._PAGE_SLOTS, "email/digest.html"), css

    def _compile_fragment(self, rendered: str, slots: tuple[str, ...], name: str) -> Shell:
        inlined = self._fragment_inliner.inline_fragment(str(rendered), self.css)
        return Shell(inlined, slots, f"email/_paper.html:{name}")

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
        self._item_cache.clear()
        self._by_ranked.clear()
        self._lines.clear()

    def _fragment(self, paper: Paper) -> _Fragment:
        key = _paper_key(paper)
        fragment = self._fragments.get(key)
        if fragment is None:
            # LaTeX rendered, lengths capped (the stored text is unchanged); the head shows no
            # abstract, so none is rendered.
            paper = for_display(paper, abstract=False)
            url = safe_url(paper.url)
            html = self._head_from_shell(paper, url)
            if html is None:
                html = self._inline_head(paper, url)
            text = self._text_head_from_shell(paper, url)
            if text is None:
                text = self._text_head.render(paper=paper, url=url)
            text = text.rstrip("\n")
            fragment = self._fragments[key] = _Fragment(html, text)
            self.fragments_rendered += 1
        return fragment

    def _inline_head(self, paper: Paper, url: str | None) -> str:
        """The paper's head the plain way: the macro rendered, then CSS-inlined."""
        return self._fragment_inliner.inline_fragment(str(self._head_macro(paper, url)), self.css)

    def _head_from_shell(self, paper: Paper, url: str | None) -> str | None:
        """`_inline_head(paper, url)` from a shell compiled once per shape of head (which of
        link, byline, upvotes and paper links it has), or None when a value holds what the
        HTML parser would change (controls, CR, surrogates) or the head's macro reads more
        than a shape gives it.

        css-inline parses the whole stylesheet for every fragment: inlining each paper's head
        cost 100 us (and the macro 40 us), for every paper a run shows (thousands). Filled
        shells are byte-identical: the values are escaped as the inliner's serializer writes
        them back (text: & < > and no-break space; attributes: & " and no-break space)."""
        byline = oneline(paper.byline) if paper.byline else ""
        links = paper_links_of(paper)
        values = {"title": oneline(paper.title), "byline": byline,
                  "upvotes": str(paper.upvotes) if paper.upvotes is not None else "",
                  "url": url or "", **{f"link_{kind}": href for kind, href in links}}
        if any(_PARSER_CHANGES.search(value) for value in values.values()):
            return None
        shape = (url is not None, bool(paper.byline), paper.upvotes is None, paper.upvotes == 1,
                 tuple(kind for kind, _ in links))
        shell = self._head_shells.get(shape, False)
        if shell is False:
            shell = self._head_shells[shape] = self._compile_head(*shape)
        if shell is None:
            return None
        return shell.fill(title=_text_esc(values["title"]), byline=_text_esc(byline), upvotes=values["upvotes"],
                          url=_attr_esc(values["url"]),
                          **{f"link_{kind}": _attr_esc(href) for kind, href in links})

    def _text_head_from_shell(self, paper: Paper, url: str | None) -> str | None:
        """`_paper.txt` for `paper` from a shell compiled once per shape (as `_head_from_shell`
        for the HTML: ~30 us of Jinja a paper); None when the template reads more."""
        if not self._text_head_plain:
            return None
        byline = oneline(paper.byline) if paper.byline else ""
        links = paper_links_of(paper)
        shape = ("head", url is not None, bool(byline), paper.upvotes is None, paper.upvotes == 1,
                 tuple(kind for kind, _ in links))
        shell = self._text_shells.get(shape, False)
        if shell is False:
            stand_in = _HeadStandIn(
                title=_Mark("title"), byline=_Mark("byline") if byline else "",
                upvotes=None if paper.upvotes is None else _Count(1 if paper.upvotes == 1 else 2),
                links={kind: _URL_MARK + _Mark(f"link_{kind}") for kind, _ in links})
            try:
                rendered = self._text_head.render(paper=stand_in, url=_URL_MARK + _Mark("url") if url else None)
                rendered = rendered.replace(_URL_MARK + "\ue000", "\ue000")
                shell = Shell(rendered, _slot_names(rendered), f"email/_paper.txt{shape}")
            except (AttributeError, TypeError, ValueError, jinja2.TemplateError):
                shell = None
            self._text_shells[shape] = shell
        if shell is None:
            return None
        return shell.fill(title=oneline(paper.title), byline=byline,
                          upvotes=str(paper.upvotes) if paper.upvotes is not None else "", url=url or "",
                          **{f"link_{kind}": href for kind, href in links})

    def _compile_head(self, has_url: bool, has_byline: bool, no_upvotes: bool, one_upvote: bool,
                      kinds: tuple[str, ...]) -> Shell | None:
        """The head of a paper of this shape, rendered with slot markers and inlined; None when
        the macro reads anything a shape does not give it (then each head is inlined)."""
        slots = ["title"] + (["url"] if has_url else []) + (["byline"] if has_byline else []) + (
            [] if no_upvotes else ["upvotes"]) + [f"link_{kind}" for kind in kinds]
        stand_in = _HeadStandIn(
            title=_Mark("title"), byline=_Mark("byline") if has_byline else "",
            upvotes=None if no_upvotes else _Count(1 if one_upvote else 2),
            links={kind: _URL_MARK + _Mark(f"link_{kind}") for kind in kinds})
        try:
            rendered = str(self._head_macro(stand_in, _URL_MARK + _Mark("url") if has_url else None))
            html = self._fragment_inliner.inline_fragment(rendered.replace(_URL_MARK, ""), self.css)
            return Shell(html, slots, f"email/_paper.html:head{kinds}")
        except (AttributeError, TypeError, ValueError, jinja2.TemplateError):
            return None

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
            html = display_snippet(html)  # arXiv LaTeX as readers see it; still text and <b> only
            text = html_lib.unescape(html.replace("<b>", "").replace("</b>", ""))
            if len(self._snippets) >= _SNIPPET_CACHE_MAX:
                self._snippets.clear()
            cached = self._snippets[snippet] = (html, text)
        return cached

    def _explain(self, matched: tuple[str, ...], because: Paper | None) -> tuple[str, str]:
        """("why" paragraph HTML, its plain text): the matched terms and the liked paper the
        pick resembles ("like <title>"). Cached: subscribers share terms and likes."""
        key = (matched, because.id if because is not None else None,
               because.title if because is not None and because.id is None else None)
        cached = self._why_cache.get(key)
        if cached is None:
            parts = []
            terms = [term for term in map(oneline, matched) if term]
            if terms:
                parts.append("matched " + ", ".join(terms))
            if because is not None and (title := display_title(because)):
                parts.append(f"like \u201c{title}\u201d")
            text = " \u00b7 ".join(parts)
            html = self._why.fill(text=esc(text)) if text else ""
            if len(self._why_cache) >= _SNIPPET_CACHE_MAX:
                self._why_cache.clear()
            cached = self._why_cache[key] = (html, text)
        return cached

    # -- rendering ---------------------------------------------------------------

    def render_digest(self, digest: Digest, links: Links) -> RenderedEmail:
        """Render one subscriber's digest.

        Raises ValueError when `links` lack a manage, unsubscribe or feed URL: a digest
        without a way out must never be sent.
        """
        links = Links(
            manage_url=require_url(links.manage_url, "manage_url"),
            unsubscribe_url=require_url(links.unsubscribe_url, "unsubscribe_url"),
            feed_url=require_url(links.feed_url, "feed_url"),
            feedback_url=require_url(links.feedback_url, "feedback_url") if links.feedback_url else "",
        )
        papers = digest.papers
        query = oneline(digest.subscriber.interests)
        liked = any(rp.because is not None for rp in papers)
        subject, preheader = self._subject_lines(len(papers), topics(papers, query), liked, digest.subscriber)
        title = heading(oneline(digest.period))
        items_html, items_text = self._items(papers, links.feedback_url)
        # Assembled in UTF-8 (see RenderedEmail): every piece but the small per-message
        # values was encoded once per run.
        html = self._digest_page.fill_utf8(
            title=utf8(esc(subject)),
            preheader=utf8(esc(preheader)),
            heading=utf8(esc(title)),
            papers=items_html or self._empty,
            about=utf8(_about(query, liked)),
            manage_url=utf8(esc(links.manage_url)),
            unsubscribe_url=utf8(esc(links.unsubscribe_url)),
            feed_url=utf8(esc(links.feed_url)),
        )
        if self._join_lines:
            html = join_lines(html)
        text = self._digest_text(items_text, title, preheader, query, liked, links)
        return RenderedEmail(subject=subject, text=finish_text(text), html=html)

    def _subject_lines(self, count: int, shown: list[str], liked: bool, subscriber: Subscriber) -> tuple[str, str]:
        """(subject, preheader): one line each. Cached by what they are made of when the two
        templates read nothing else (checked when the Composer is made): subscribers share
        them, and two Jinja renders were ~45 us of every message."""
        key = (count, tuple(shown), liked)
        if self._lines_cacheable and (cached := self._lines.get(key)) is not None:
            return cached
        small = {"count": count, "counted": count_of(count), "topics": shown, "liked": liked,
                 "subscriber": subscriber, **self._base}
        lines = oneline(self._subject.render(small)), oneline(self._preheader.render(small))
        if self._lines_cacheable:
            if len(self._lines) >= _SNIPPET_CACHE_MAX:
                self._lines.clear()
            self._lines[key] = lines
        return lines

    def _items(self, papers: list[RankedPaper], feedback_url: str) -> tuple[bytes, list[str]]:
        """The papers as HTML list items (UTF-8, joined by newlines) and as plain-text items
        (without their numbers).

        All but the feedback links is the same for every subscriber who gets this paper with
        this snippet and reason, so it is built once (`_item`) as a format whose two slots take
        the subscriber's feedback URL. The HTML items are joined as formats and filled by one
        %-format per message, not one per item and a join of the results. A ranked paper the
        caller shares between digests (`jobs.rendering.Renderer.digest_of` does) is looked up
        by identity, without building its cache key again.
        """
        formats: list[bytes] = []
        items_text: list[str] = []
        slots = 0
        by_ranked = self._by_ranked
        for rp in papers:
            feedback = bool(feedback_url) and rp.paper.id is not None
            entry = by_ranked.get(id(rp))
            if entry is None or entry[0] is not rp or entry[1] is not feedback:
                if len(by_ranked) >= _SNIPPET_CACHE_MAX:
                    by_ranked.clear()
                # Holding `rp` keeps its id from being reused while the entry lives.
                entry = by_ranked[id(rp)] = (rp, feedback, *self._item(rp, feedback))
            formats.append(entry[2])
            if entry[4]:
                slots += 2
                items_text.append(entry[3] % (feedback_url, feedback_url))
            else:
                items_text.append(entry[3])
        if not formats:
            return b"", items_text
        base_html = utf8(esc(feedback_url))
        return b"\n".join(formats) % ((base_html,) * slots), items_text

    def _item(self, rp: RankedPaper, feedback: bool) -> tuple[bytes, str, bool]:
        """(the item's HTML in UTF-8 as a %-format, its text, whether the text is a %-format too),
        cached per paper, snippet, reason and `feedback`. With `feedback` the HTML format has two
        %s and the text is a format with two %s, which take the subscriber's feedback URL
        (escaped for the HTML); without, the HTML format has none (its % doubled all the same)
        and the text is the text. Every other byte is the same for each subscriber, so the
        "more"/"less" links' paper parts and the feedback paragraph are joined in once per item,
        not per message (`_items` was 13% of a run; measured: this cuts its per-item work from
        five string operations to one format)."""
        matched = rp.matched if type(rp.matched) is tuple else tuple(rp.matched)
        because = rp.because
        key = (_paper_key(rp.paper), rp.snippet, matched, because.id if because is not None else None,
               because.title if because is not None and because.id is None else None, feedback)
        cached = self._item_cache.get(key)
        if cached is None:
            fragment = self._fragment(rp.paper)
            why_html, why_text = self._explain(matched, because)
            snippet_html = snippet_text = ""
            if rp.snippet:
                snippet_html, snippet_text = self._snippet(rp.snippet)
            html = self._item_open + fragment.html + self._item_mid
            if snippet_html:
                html += "\n" + self._snippet_shell.fill(html=snippet_html)
            if why_html:
                html += "\n" + why_html
            text = self._item_text(fragment.text, snippet_text, why_text, feedback)
            text = text.rstrip("\n") + "\n"
            if len(self._item_cache) >= _SNIPPET_CACHE_MAX:
                self._item_cache.clear()
            if feedback:  # the template's slots are its last "more" and "less"
                text, end = text.rsplit(_TEXT_SLOTS["less"], 1)
                start, middle = text.rsplit(_TEXT_SLOTS["more"], 1)
                at = f"?p={rp.paper.id}&v="
                text_format = f"%s{at}more".join([start.replace("%", "%%"), middle.replace("%", "%%")])
                text_format += f"%s{at}less" + end.replace("%", "%%")
                marks = {name: f"\ue000{name}\ue001".encode() for name in ("more", "less")}
                links = self._feedback.fill_utf8(**marks).replace(b"%", b"%%")
                at_html = f"?p={rp.paper.id}&amp;v=".encode("ascii")
                for name, mark in marks.items():
                    links = links.replace(mark, b"%s" + at_html + name.encode("ascii"))
                html_format = b"%s\n%s%s" % (utf8(html).replace(b"%", b"%%"), links,
                                              self._item_close.replace(b"%", b"%%"))
                cached = self._item_cache[key] = (html_format, text_format, True)
            else:
                cached = self._item_cache[key] = ((utf8(html) + self._item_close).replace(b"%", b"%%"), text, False)
        return cached

    def _item_text(self, head: str, snippet: str, why: str, feedback: bool) -> str:
        """`_item.txt` for one item, its feedback URLs left as the _TEXT_SLOTS markers."""
        slots = _TEXT_SLOTS if feedback else {"more": "", "less": ""}
        values = {"head": head, "snippet": snippet, "why": why}
        shape = ("item", bool(snippet), bool(why), feedback)
        if self._text_item_plain and (shell := self._text_shell(self._text_item, shape, values, slots)) is not None:
            return shell.fill(**values, **slots)
        return self._text_item.render(**values, **slots)

    def _digest_text(self, items: list[str], title: str, preheader: str, query: str, liked: bool,
                     links: Links) -> str:
        """`digest.txt` for one message."""
        values = {"heading": title, "preheader": preheader, "query": query,
                  **{f"item{n}": item for n, item in enumerate(items)}}
        link_values = {"manage_url": links.manage_url, "unsubscribe_url": links.unsubscribe_url,
                       "feed_url": links.feed_url}
        shape = ("digest", len(items), bool(query), liked)
        if self._text_plain and (shell := self._text_shell(self._text, shape, values, link_values)) is not None:
            return shell.fill(**values, **link_values)
        return self._text.render(items=items, heading=title, preheader=preheader, query=query, liked=liked,
                                 links=links, **self._base)

    def _text_shell(self, template: jinja2.Template, shape: tuple, values: dict[str, str],
                    fixed: dict[str, str]) -> Shell | None:
        """`template` rendered once for this shape of message with a marker for every value,
        split at the markers: filling it is one %-format, not a Jinja render (~30 us each, one
        per message and one per distinct item). The text templates do not escape, and the
        shape fixes every test they make (`_reads_only` checked they read nothing else), so a
        filled shell is the rendered text. None (render each time) if compiling fails."""
        shell = self._text_shells.get(shape, False)
        if shell is False:
            shell = self._text_shells[shape] = self._compile_text(template, shape, values, fixed)
        return shell

    def _compile_text(self, template: jinja2.Template, shape: tuple, values: dict[str, str],
                      fixed: dict[str, str]) -> Shell | None:
        marks = {name: _Mark(name) if value else "" for name, value in values.items()}
        names = [name for name, value in values.items() if value]
        try:
            if shape[0] == "item":
                rendered = template.render(**marks, **{name: _Mark(name) if value else ""
                                                       for name, value in fixed.items()})
                names += [name for name, value in fixed.items() if value]
            else:
                items = [marks[f"item{n}"] or "" for n in range(shape[1])]
                if not all(items):  # an empty item would be tested differently: no shell
                    return None
                stand_in = _LinksStandIn(**{name: _Mark(name) for name in fixed})
                rendered = template.render(items=items, heading=marks["heading"], preheader=marks["preheader"],
                                           query=marks["query"], liked=shape[3], links=stand_in, **self._base)
                names += list(fixed)
            return Shell(rendered, names, f"{template.name}{shape}")
        except (AttributeError, TypeError, ValueError, jinja2.TemplateError):
            return None

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
        subject, text, html = render_confirmation(
            self.env, self._page_inliner, subscriber=subscriber, confirm_url=links.confirm_url, base=self._base,
            requested_at=requested_at, valid_for=self.confirm_valid_for)
        return RenderedEmail(subject=subject, text=text, html=html)
