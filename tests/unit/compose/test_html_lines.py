"""compose.html_lines: the email HTML in fewer lines, each within SMTP's limit, reading the same."""

from __future__ import annotations

import re
import shutil

import pytest

from digest.compose import Composer, make_environment, templates_dir
from digest.compose.html_lines import MAX_LINE_OCTETS, collapse_style_sheets, join_lines, keeps_line_breaks
from digest.mail import bodies
from tests.fakes import SAMPLE_LINKS as LINKS
from tests.fakes import sample_digest as _digest

def test_the_line_limit_is_the_mail_layers():
    assert MAX_LINE_OCTETS == bodies.MAX_LINE_OCTETS


def test_line_breaks_between_tags_become_spaces():
    assert join_lines(b"<p>a</p>\n<p>b</p>\n<p>c</p>") == b"<p>a</p> <p>b</p> <p>c</p>"


def test_line_breaks_next_to_text_stay():
    html = b"<p>a\nb</p>\ntext\n<p>c</p>"
    assert join_lines(html) == html


def test_an_empty_line_between_tags_is_dropped_and_the_last_line_break_kept():
    assert join_lines(b"<td>\n\n<p>x</p>\n") == b"<td> <p>x</p>\n"


def test_no_joined_line_passes_the_limit_and_no_line_is_cut():
    lines = [b"<p>" + b"x" * n + b"</p>" for n in (300, 500, 200, 990, 10, 10)]
    joined = join_lines(b"\n".join(lines), limit=998)
    assert joined.replace(b" ", b"\n").split(b"\n") == lines  # only line breaks became spaces
    assert [len(line) for line in joined.split(b"\n")] == [307 + 1 + 507, 207, 997, 17 + 1 + 17]


def test_a_line_already_too_long_stays_as_it_is():
    long = b"<p>" + b"y" * 1200 + b"</p>"
    assert join_lines(b"<p>a</p>\n" + long + b"\n<p>b</p>") == b"<p>a</p>\n" + long + b"\n<p>b</p>"


def test_joining_is_idempotent():
    html = b"<a>\n<b>\ntext\n<c>\n\n<d>\n"
    assert join_lines(join_lines(html)) == join_lines(html)


@pytest.mark.parametrize("html", ["<pre>a\nb</pre>", "<PRE class=x>", "<textarea>", '<p style="white-space: pre-wrap">',
                                  "p { white-space:pre-line }", "white-space: break-spaces", "white-space-collapse: preserve"])
def test_preformatted_content_is_noticed(html):
    assert keeps_line_breaks(html)


@pytest.mark.parametrize("html", ["<p>a</p>", '<span style="white-space:nowrap">', "<p>prefix</p>"])
def test_ordinary_html_is_not_preformatted(html):
    assert not keeps_line_breaks(html)


def test_style_sheets_are_collapsed_onto_indented_lines_within_the_limit():
    rules = "\n".join(f"  .rule{n} {{ color: #{n:06d} !important; }}" for n in range(100))
    html = f"<head><style>\n{rules}\n</style>\n<meta charset=\"utf-8\"></head>"
    collapsed = collapse_style_sheets(html)
    css = re.search(r"<style>\n(.*)\n</style>", collapsed, re.DOTALL)[1]
    lines = css.split("\n")
    assert 1 < len(lines) < 10
    assert all(line.startswith(" .") and len(line.encode()) <= MAX_LINE_OCTETS for line in lines)
    assert " ".join(line.strip() for line in lines) == " ".join(rule.strip() for rule in rules.split("\n"))


def _spaced(html: bytes) -> bytes:
    """`html` with white space runs as one space (and none opening a style sheet)."""
    return re.sub(rb"\s+", b" ", html).replace(b"<style> ", b"<style>")


def _visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize("papers", [1, 10, 40])
def test_a_digest_has_fewer_lines_all_within_the_limit_and_reads_the_same(papers):
    compact = Composer(base_url="https://digest.example.org/").render_digest(_digest(papers), LINKS).html_body
    as_written = Composer(base_url="https://digest.example.org/", compact_html=False).render_digest(_digest(papers),
                                                                                                  LINKS).html_body
    assert compact.count(b"\n") < as_written.count(b"\n") * 0.6
    assert max(len(line) for line in compact.split(b"\n")) <= MAX_LINE_OCTETS
    assert not re.search(rb"(?m)^\.", compact)  # nothing for SMTP to dot-stuff
    assert _visible_text(compact.decode()) == _visible_text(as_written.decode())
    assert _spaced(compact) == _spaced(as_written)  # only white space differs
    assert bodies.encode_body(compact, eight_bit=True)[0] == "8bit"  # sent as it is, not quoted-printable


def test_templates_with_preformatted_content_keep_their_line_breaks(tmp_path):
    shutil.copytree(templates_dir() / "email", tmp_path / "email")
    page = tmp_path / "email" / "digest.html"
    page.write_text(page.read_text().replace('<p class="lead">', '<pre class="lead">').replace(
        "{{ preheader }}</p>", "{{ preheader }}</pre>"))
    composer = Composer(make_environment(tmp_path), base_url="https://digest.example.org/")
    as_written = Composer(make_environment(tmp_path), base_url="https://digest.example.org/", compact_html=False)
    assert composer.render_digest(_digest(3), LINKS).html == as_written.render_digest(_digest(3), LINKS).html
