"""Rendering digests and confirmation emails: content, escaping, inlining, reuse."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from digest.compose import Composer, Links, RenderedEmail, safe_url, templates_dir
from digest.models import Digest, Paper, RankedPaper, Subscriber

LINKS = Links(
    manage_url="https://digest.example.org/manage?t=abc&x=1",
    unsubscribe_url="https://digest.example.org/unsubscribe/tok123",
    feed_url="https://digest.example.org/feed/feedtok.atom",
    confirm_url="https://digest.example.org/confirm/conftok",
)


class Page(HTMLParser):
    """Tags, attributes and link texts of an HTML document, via the stdlib parser."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str | None, str]] = []
        self.text: list[str] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._open_bold = 0
        self.bold: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._href, self._link_text = dict(attrs).get("href"), []
        if tag == "b":
            self._open_bold += 1
            self.bold.append("")

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._link_text).strip()))
            self._href = None
        if tag == "b":
            self._open_bold -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._href is not None:
            self._link_text.append(data)
        if self._open_bold:
            self.bold[-1] += data

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def href_for(self, text: str) -> str | None:
        return next((href for href, label in self.links if label == text), None)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def paper(n: int, **changes) -> Paper:
    fields = dict(
        title=f"Paper number {n} on token pooling",
        abstract="An abstract. " * 50,
        arxiv_id=f"2411.{n:05d}",
        authors=(f"Author {n}A", f"Author {n}B"),
        upvotes=10 + n,
        links={"abs": f"https://arxiv.org/abs/2411.{n:05d}", "pdf": f"https://arxiv.org/pdf/2411.{n:05d}"},
        key=f"arxiv:2411.{n:05d}",
        id=n,
    )
    fields.update(changes)
    return Paper(**fields)


def ranked(p: Paper, matched=("token pooling", "normalization"), snippet=None) -> RankedPaper:
    if snippet is None:
        snippet = f"We study <b>token pooling</b> with layer <b>normalization</b> in {p.arxiv_id} &amp; more."
    return RankedPaper(paper=p, score=1.0, matched=tuple(matched), snippet=snippet)


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(site_name="Paper Digest", base_url="https://digest.example.org/")


@pytest.fixture
def subscriber() -> Subscriber:
    return Subscriber(email="ada@example.com", interests='"token pooling" OR normalization <NOT> x&y', id=3, status="active")


def three_paper_digest(subscriber: Subscriber) -> Digest:
    papers = [
        ranked(paper(1)),
        ranked(paper(2, authors=(), organization="Example Lab", upvotes=None, links={"hf": "https://huggingface.co/papers/2411.00002"}), matched=("normalization",)),
        ranked(paper(3, authors=(), author_count=7, upvotes=1)),
    ]
    return Digest(subscriber=subscriber, period="Fri 21 Nov 2025", papers=papers, delivery_id=99)


def test_templates_dir_holds_the_email_templates():
    names = {p.name for p in (templates_dir() / "email").iterdir()}
    assert {"base.html", "digest.html", "digest.txt", "digest.subject.txt", "confirm.html", "confirm.txt", "confirm.subject.txt"} <= names


def test_digest_renders_subject_text_and_html(composer, subscriber):
    email = composer.render_digest(three_paper_digest(subscriber), LINKS)
    assert isinstance(email, RenderedEmail)
    assert email.subject == "3 new papers on normalization, token pooling - Paper Digest"
    assert "\n" not in email.subject and "\r" not in email.subject

    page = Page(email.html)
    # Each title links to the paper's page (arXiv abstract, else the HF page).
    assert page.href_for("Paper number 1 on token pooling") == "https://arxiv.org/abs/2411.00001"
    assert page.href_for("Paper number 2 on token pooling") == "https://huggingface.co/papers/2411.00002"
    assert page.href_for("Paper number 3 on token pooling") == "https://arxiv.org/abs/2411.00003"
    # Bylines: authors, organisation, author count; upvotes only when known.
    text = page.plain
    assert "Author 1A, Author 1B" in text and "Example Lab" in text and "7 authors" in text
    assert "11 upvotes" in text and "1 upvote" in text and "12 upvotes" not in text
    # Snippet keeps its <b> marks; matched terms are explained.
    assert "token pooling" in page.bold and "normalization" in page.bold
    assert "2411.00001 & more." in text
    assert "Why you got this: matched token pooling, normalization" in text
    assert "Why you got this: matched normalization" in text
    # Footer: manage, one-click unsubscribe, feed, and the query, escaped.
    assert page.href_for("Manage preferences") == LINKS.manage_url
    assert page.href_for("Unsubscribe") == LINKS.unsubscribe_url
    assert page.href_for("Web feed") == LINKS.feed_url
    assert '"token pooling" OR normalization <NOT> x&y' in text
    assert "&lt;NOT&gt; x&amp;y" in email.html
    # The preheader sits hidden in the body.
    preheader = [attrs for tag, attrs in page.tags if "preheader" in (attrs.get("class") or "")]
    assert preheader and "display:none" in preheader[0]["style"]
    assert "3 new papers on normalization, token pooling" in text


def test_html_is_inlined_mobile_and_dark_mode_ready(composer, subscriber):
    html = composer.render_digest(three_paper_digest(subscriber), LINKS).html
    page = Page(html)
    cells = [attrs for tag, attrs in page.tags if tag == "td"]
    assert cells and all(attrs.get("style") for attrs in cells if attrs.get("class"))
    titles = [attrs for tag, attrs in page.tags if tag == "a" and attrs.get("class") == "title-link"]
    assert len(titles) == 3 and all("color:" in a["style"] for a in titles)
    container = next(attrs for tag, attrs in page.tags if attrs.get("class") == "container")
    assert "max-width:600px" in container["style"]
    # Only @media rules remain in <style>: dark mode and small screens.
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert len(styles) == 1
    assert "@media (prefers-color-scheme: dark)" in styles[0]
    assert "max-width: 620px" in styles[0]
    assert not re.search(r"^\s*\.[\w-]+\s*\{", styles[0].split("@media")[0], re.M)
    metas = {attrs.get("name"): attrs.get("content") for tag, attrs in page.tags if tag == "meta"}
    assert metas["color-scheme"] == "light dark"
    assert "width=device-width" in metas["viewport"]


def test_no_scripts_images_or_remote_resources(composer, subscriber):
    evil = paper(
        4,
        title="<script>alert(1)</script> Evil <img src=x onerror=alert(2)>",
        authors=("<b>Mallory</b>",),
        links={"abs": "javascript:alert(3)"},
    )
    digest = Digest(
        subscriber=Subscriber(email="x@example.com", interests="<script>q</script>"),
        period="<i>today</i>",
        papers=[
            ranked(evil, matched=("<script>",), snippet='ok <b>bold</b> <script>alert(4)</script><img src="https://t.example/p.gif"> <a href="https://x">x</a>'),
            ranked(paper(5)),
        ],
    )
    email = composer.render_digest(digest, LINKS)
    lowered = email.html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "javascript:" not in lowered
    assert "<link" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Evil" in email.html  # title shown as text
    page = Page(email.html)
    assert page.names() <= {"html", "head", "meta", "title", "style", "body", "div", "table", "tbody", "tr", "td", "a", "h1", "p", "span", "b"}
    # The evil title is not linked; the sanitised snippet keeps only <b>.
    assert page.href_for("<script>alert(1)</script> Evil <img src=x onerror=alert(2)>") is None
    assert "bold" in page.bold
    assert all(href.startswith("https://") for href, _ in page.links)


def test_text_part_is_plain(composer, subscriber):
    email = composer.render_digest(three_paper_digest(subscriber), LINKS)
    text = email.text
    assert not re.search(r"</?[a-z][^>]*>", text)  # no tags: snippets lose their <b>
    assert "&amp;" not in text and "&#" not in text  # and nothing is HTML-escaped
    assert "1. Paper number 1 on token pooling" in text
    assert "https://arxiv.org/abs/2411.00001" in text
    assert "We study token pooling with layer normalization in 2411.00001 & more." in text
    assert "Why you got this: matched token pooling, normalization" in text
    assert '"token pooling" OR normalization <NOT> x&y' in text
    for url in (LINKS.manage_url, LINKS.unsubscribe_url, LINKS.feed_url):
        assert url in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_titles_with_newlines_render_on_one_line(composer, subscriber):
    digest = Digest(subscriber=subscriber, period="today", papers=[ranked(paper(6, title="A title\n   broken  over\nlines", key="k6"))])
    email = composer.render_digest(digest, LINKS)
    assert "A title broken over lines" in Page(email.html).plain
    assert "1. A title broken over lines\n" in email.text


def test_empty_digest_says_so(composer, subscriber):
    email = composer.render_digest(Digest(subscriber=subscriber, period="today", papers=[]), LINKS)
    assert email.subject.startswith("No new papers")
    assert "No new papers matched your query" in Page(email.html).plain
    assert "No new papers matched your query" in email.text
    assert Page(email.html).href_for("Unsubscribe") == LINKS.unsubscribe_url


@pytest.mark.parametrize("missing", ["manage_url", "unsubscribe_url", "feed_url"])
def test_digest_requires_its_links(composer, subscriber, missing):
    links = dataclasses.replace(LINKS, **{missing: ""})
    with pytest.raises(ValueError, match=missing):
        composer.render_digest(three_paper_digest(subscriber), links)


def test_fragment_is_rendered_once_per_paper_and_reused(subscriber):
    composer = Composer(base_url="https://digest.example.org/")
    shared = paper(7)
    one = Digest(subscriber=subscriber, period="today", papers=[ranked(shared), ranked(paper(8))])
    other = Subscriber(email="bob@example.com", interests="pooling", id=4)
    two = Digest(subscriber=other, period="today", papers=[ranked(shared, matched=("pooling",), snippet="about <b>pooling</b>")])

    first = composer.render_digest(one, LINKS)
    assert composer.fragments_rendered == 2 and composer.cache_size == 2
    second = composer.render_digest(two, LINKS)
    assert composer.fragments_rendered == 2  # the shared paper came from the cache
    # The per-subscriber parts still differ.
    assert "Why you got this: matched pooling" in Page(second.html).plain
    assert "Why you got this: matched pooling" not in Page(first.html).plain
    assert Page(second.html).href_for("Paper number 7 on token pooling") == "https://arxiv.org/abs/2411.00007"

    composer.clear_cache()
    composer.render_digest(two, LINKS)
    assert composer.fragments_rendered == 3


def test_rendering_twice_gives_identical_output(composer, subscriber):
    digest = three_paper_digest(subscriber)
    assert composer.render_digest(digest, LINKS) == composer.render_digest(digest, LINKS)


def test_confirmation_email(composer):
    sub = Subscriber(email="new@example.com", interests="diffusion AND <video>", frequency="weekly", weekday=0, send_hour=8, timezone="Europe/Berlin")
    email = composer.render_confirmation(sub, LINKS)
    assert email.subject == "Confirm your Paper Digest subscription"
    page = Page(email.html)
    assert page.href_for("Confirm subscription") == LINKS.confirm_url
    text = page.plain
    assert "diffusion AND <video>" in text
    assert "Weekly on Monday at 08:00 (Europe/Berlin)" in text
    assert "expires in 3 days" in text
    assert "did not ask for this, ignore this email" in text
    assert "<script" not in email.html.lower() and "<img" not in email.html.lower()
    assert "@media (prefers-color-scheme: dark)" in email.html
    assert LINKS.confirm_url in email.text
    assert "Daily" not in email.text and "Weekly on Monday at 08:00 (Europe/Berlin)" in email.text
    assert not re.search(r"</?[a-z][^>]*>", email.text.replace("<video>", ""))
    # A confirmation has no unsubscribe link: the address is not subscribed yet.
    assert page.href_for("Unsubscribe") is None


def test_confirmation_requires_confirm_url(composer):
    with pytest.raises(ValueError, match="confirm_url"):
        composer.render_confirmation(Subscriber(email="a@example.com"), Links())


def test_confirmation_expiry_follows_the_setting():
    composer = Composer(base_url="https://digest.example.org/", confirm_valid_for=timedelta(hours=24))
    email = composer.render_confirmation(Subscriber(email="a@example.com", interests="x"), LINKS)
    assert "expires in 24 hours" in email.text


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://arxiv.org/abs/1", "https://arxiv.org/abs/1"),
        ("  http://x.org/a?b=c&d=e ", "http://x.org/a?b=c&d=e"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,hi", None),
        ("//evil.example/x", None),
        ('https://x.org/"onmouseover=', None),
        ("https://x.org/a b", None),
        (None, None),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    "snippet, html, text",
    [
        ("plain <b>term</b> &amp; &lt;tag&gt; &#233;", "plain <b>term</b> &amp; &lt;tag&gt; &#233;", "plain term & <tag> é"),
        ("unbalanced <b>term and the rest", "unbalanced <b>term and the rest</b>", "unbalanced term and the rest"),
        ("nested <b><b>x</b></b>", None, "nested x"),
        ("bare & ampersand <i>it</i>", "bare &amp; ampersand it", "bare & ampersand it"),
        ('<b onclick="x()">click</b> <script>alert(1)</script>', "<b>click</b>", "click"),
        ("multi\n  line\tsnippet", "multi line snippet", "multi line snippet"),
    ],
)
def test_snippets_are_sanitised(composer, subscriber, snippet, html, text):
    digest = Digest(subscriber=subscriber, period="today", papers=[ranked(paper(9), snippet=snippet)])
    email = composer.render_digest(digest, LINKS)
    snippet_html = re.search(r'<p class="snippet"[^>]*>(.*?)</p>', email.html).group(1)
    if html is not None:
        assert snippet_html == html
    # Whatever came in, only balanced <b> tags survive.
    assert re.sub(r"</?b>", "", snippet_html).count("<") == 0
    assert snippet_html.count("<b>") == snippet_html.count("</b>")
    assert f"   {text}\n" in email.text


def test_a_template_testing_a_slot_fails_at_startup(tmp_path):
    import shutil

    from digest.compose import make_environment

    shutil.copytree(templates_dir() / "email", tmp_path / "email")
    page = tmp_path / "email" / "digest.html"
    page.write_text(page.read_text().replace("{{ about }}", "{% if about %}{{ about }}{% endif %}"))
    with pytest.raises(TypeError, match="slot"):
        Composer(make_environment(tmp_path), base_url="https://digest.example.org/")
    page.write_text(page.read_text().replace("{% if about %}{{ about }}{% endif %}", "{{ about|upper }}"))
    with pytest.raises(ValueError, match="slot"):
        Composer(make_environment(tmp_path), base_url="https://digest.example.org/")


def test_confirmation_shows_when_it_was_requested(composer):
    from datetime import datetime, timezone

    sub = Subscriber(email="new@example.com", interests="graph\nneural   networks")
    email = composer.render_confirmation(sub, LINKS, requested_at=datetime(2025, 11, 21, 6, 5, tzinfo=timezone.utc))
    assert "21 Nov 2025, 06:05 UTC" in email.text and "21 Nov 2025, 06:05 UTC" in Page(email.html).plain
    assert "Query:     graph neural networks\n" in email.text
    assert "Daily at 07:00 (UTC)" in email.text


def test_rendered_digest_serialises_and_parses_back(composer, subscriber):
    import email as email_lib
    import email.policy
    from datetime import datetime, timezone

    from digest.mail.message import build_message
    from digest.mail.message_ids import make_message_id

    rendered = composer.render_digest(three_paper_digest(subscriber), LINKS)
    raw = build_message(
        from_addr="digest@example.org", from_name="Paper Digest", to_addr=subscriber.email, to_name="Ada Lovelace",
        subject=rendered.subject, text=rendered.text, html=rendered.html,
        message_id=make_message_id(99, "example.org"), date=datetime(2025, 11, 21, 7, tzinfo=timezone.utc),
        list_id="daily.digest.example.org", list_unsubscribe_url=LINKS.unsubscribe_url,
        list_unsubscribe_mailto="mailto:unsubscribe@example.org",
    )
    msg = email_lib.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == rendered.subject
    plain, html = msg.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html.replace("\r\n", "\n")


def test_the_digest_html_is_assembled_in_utf8_and_stays_escaped(subscriber):
    """The HTML body comes as UTF-8 bytes (RenderedEmail.html_body) built from pieces encoded
    apart; markup in titles and queries is still escaped (a lone surrogate in a title never
    reaches the page: the head's inlining drops it)."""
    composer = Composer(site_name="Paper Digest", base_url="https://digest.example.org/")
    tricky = paper(7, title='<Tricky> & "quoted" \'title\' \U0001f44d \ud800 end', key="tricky")
    links = dataclasses.replace(LINKS, feedback_url="https://digest.example.org/feedback/fbtok")
    digest = Digest(subscriber=subscriber, period="Fri 21 Nov 2025", papers=[ranked(tricky), ranked(paper(8))],
                    delivery_id=5)
    email = composer.render_digest(digest, links)
    assert isinstance(email.html_body, bytes) and email.html == email.html_body.decode("utf-8")
    page = Page(email.html)
    assert '<Tricky> & "quoted" \'title\' \U0001f44d end' in page.plain
    assert "&lt;Tricky&gt; &amp;" in email.html and "<Tricky>" not in email.html
    assert "&lt;NOT&gt; x&amp;y" in email.html
    assert page.href_for("\U0001f44d\u00a0More like this") == "https://digest.example.org/feedback/fbtok?p=7&v=more"
    assert email == composer.render_digest(digest, links)  # compared by value, cached pieces or not


def test_subject_lines_are_shared_only_while_the_templates_read_nothing_personal(tmp_path, subscriber):
    """Subjects and preheaders are cached by count, topics and likes; a subject template that
    reads the subscriber turns the cache off rather than sending Ada's subject to Bob."""
    import shutil

    from digest.compose import make_environment
    digest = three_paper_digest(subscriber)
    shared = Composer(base_url="https://digest.example.org/")
    assert shared.render_digest(digest, LINKS).subject == shared.render_digest(digest, LINKS).subject
    shutil.copytree(templates_dir(), tmp_path / "templates")
    subject = tmp_path / "templates" / "email" / "digest.subject.txt"
    subject.write_text("{{ counted }} for {{ subscriber.email }}\n")
    personal = Composer(make_environment(tmp_path / "templates"), base_url="https://digest.example.org/")
    bob = dataclasses.replace(subscriber, email="bob@example.com")
    assert personal.render_digest(digest, LINKS).subject == "3 new papers for ada@example.com"
    assert personal.render_digest(dataclasses.replace(digest, subscriber=bob), LINKS).subject == (
        "3 new papers for bob@example.com")


def test_paper_heads_from_compiled_shells_are_the_inlined_heads():
    """Each paper's head (HTML and text) is filled into a shell compiled once per shape; it
    must be byte for byte what rendering (and inlining) that head gives, whatever it holds."""
    import random

    from digest.text import for_display
    composer = Composer(base_url="https://digest.example.org/")
    rng = random.Random(14)
    alphabet = list("ab &<>\"'=;#/\\%{}é漢\u00a0\u2028\U0001f44d") + ["&amp;", "&#39;", "<b>", "</a>", "\ue000x\ue001"]
    kinds = ["abs", "pdf", "hf", "code", "project"]
    urls = ["https://arxiv.org/abs/1", "http://x.org/a?b=1&c=2", "https://é.example/ü", "javascript:alert(1)",
            'https://x.org/"q"', "https://x.org/a b", None]
    def text(most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))

    checked = 0
    for n in range(300):
        p = paper(n, title=text(30) or "t", authors=tuple(text(8) for _ in range(rng.randint(0, 3))),
                  organization=rng.choice([None, text(10)]), author_count=rng.choice([None, 0, 1, 5]),
                  upvotes=rng.choice([None, 0, 1, 2, 1234]), key=f"k{n}",
                  links={kind: url for kind in rng.sample(kinds, rng.randint(0, 5)) if (url := rng.choice(urls))})
        shown = for_display(dataclasses.replace(p, abstract=""))
        url = safe_url(shown.url)
        filled = composer._head_from_shell(shown, url)
        if filled is not None:
            assert filled == composer._inline_head(shown, url), p
            checked += 1
        assert composer._text_head_from_shell(shown, url) == composer._text_head.render(paper=shown, url=url), p
    assert checked > 250


@pytest.mark.parametrize("interests", ["", "pooling, 100% <recall> & {{ x }}"])
@pytest.mark.parametrize("feedback", ["", "https://digest.example.org/feedback/fbtok"])
def test_plain_text_from_shells_is_the_rendered_text(interests, feedback):
    """The text part is filled into shells compiled per shape of message; it must be exactly
    what rendering the text templates for that message gives."""
    composer = Composer(base_url="https://digest.example.org/")
    who = Subscriber(email="ada@example.com", interests=interests, id=3, status="active")
    odd = paper(5, title="50% off {{ title }} \ue000head\ue001 %s", authors=(), upvotes=None, links={})
    shapes = [[], [ranked(odd, snippet="")], [ranked(odd, matched=(), snippet="plain & <b>bold</b> 100%")],
              [ranked(paper(n), matched=("pooling",) if n % 2 else ()) for n in range(1, 8)]]
    links = dataclasses.replace(LINKS, feedback_url=feedback)
    for papers in shapes:
        digest = Digest(subscriber=who, period="2025-11-21", papers=papers, delivery_id=1)
        shelled = composer.render_digest(digest, links).text
        composer._text_item_plain = composer._text_plain = False  # the ordinary Jinja renders
        composer.clear_cache()
        assert shelled == composer.render_digest(digest, links).text
        composer._text_item_plain = composer._text_plain = True
        composer.clear_cache()
    assert all(shell is not None for shell in composer._text_shells.values())


def test_a_text_template_reading_more_than_its_shape_is_rendered_per_message(tmp_path, subscriber):
    """digest.txt reading a link its shell's stand-in lacks: no shell, the text still right."""
    import shutil

    from digest.compose import make_environment
    shutil.copytree(templates_dir(), tmp_path / "templates")
    digest_txt = tmp_path / "templates" / "email" / "digest.txt"
    digest_txt.write_text(digest_txt.read_text() + "\nFor {{ links.confirm_url or 'you' }}\n")
    composer = Composer(make_environment(tmp_path / "templates"), base_url="https://digest.example.org/")
    text = composer.render_digest(three_paper_digest(subscriber), LINKS).text
    assert text.endswith("Web feed: https://digest.example.org/feed/feedtok.atom\n\nFor you\n")
    assert [shell for shape, shell in composer._text_shells.items() if shape[0] == "digest"] == [None]


def test_items_with_percent_signs_keep_them_and_their_feedback_links():
    """Items are cached as %-formats taking the subscriber's feedback URL: a "%" in a title,
    snippet or that URL must come out as it went in, and each vote link name its paper."""
    composer = Composer(base_url="https://digest.example.org/")
    who = Subscriber(email="ada@example.com", interests="", id=3, status="active")
    odd = paper(5, title="50% off %s %(x)s", authors=(), upvotes=None, links={})
    links = dataclasses.replace(LINKS, feedback_url="https://digest.example.org/feedback/a%2Fb")
    digest = Digest(subscriber=who, period="2025-11-21", papers=[ranked(odd, snippet="100% <b>sure</b> %d")],
                    delivery_id=1)
    for _ in range(2):  # built, then from the cache
        rendered = composer.render_digest(digest, links)
        assert "50% off %s %(x)s" in rendered.html and "100% <b>sure</b> %d" in rendered.html
        assert "50% off %s %(x)s" in rendered.text and "100% sure %d" in rendered.text
        for vote in ("more", "less"):
            assert f'href="https://digest.example.org/feedback/a%2Fb?p=5&amp;v={vote}"' in rendered.html
            assert f"https://digest.example.org/feedback/a%2Fb?p=5&v={vote}" in rendered.text
