"""A digest's HTML, its lines joined (compose.html_lines), looks in Chromium exactly as the
templates wrote it: same pixels on a desktop and a phone, light and dark."""

from __future__ import annotations

import pytest

from digest.compose import Composer, Links
from digest.models import Digest, Paper, RankedPaper, Subscriber
from tests.e2e.browser import chromium  # noqa: F401 - fixture

LINKS = Links(manage_url="https://digest.example.org/manage/t", unsubscribe_url="https://digest.example.org/u/t",
              feed_url="https://digest.example.org/feeds/s/t.atom", feedback_url="https://digest.example.org/feedback/t")


def _digest() -> Digest:
    subscriber = Subscriber(email="ada@example.com", interests="token pooling", id=3, status="active")
    papers = [RankedPaper(paper=Paper(title=f"Paper {n}: token pooling for long documents", abstract="A.",
                                      authors=tuple(f"Author {n}-{k}" for k in range(1 + 3 * n)), id=n, key=f"k{n}",
                                      upvotes=n if n % 2 else None,
                                      links={"abs": f"https://arxiv.org/abs/2411.{n:05d}",
                                             "pdf": f"https://arxiv.org/pdf/2411.{n:05d}"}),
                          score=1.0, matched=("token pooling",),
                          snippet=f"…we study <b>token pooling</b> in {n} settings and find it helps…")
              for n in range(1, 11)]
    return Digest(subscriber=subscriber, period="Fri 21 Nov 2025", papers=papers, delivery_id=9)


@pytest.mark.parametrize("width", [800, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_joined_lines_render_the_same_pixels(chromium, width, scheme):  # noqa: F811 - fixture
    compact = Composer(base_url="https://digest.example.org/").render_digest(_digest(), LINKS).html
    as_written = Composer(base_url="https://digest.example.org/", compact_html=False).render_digest(_digest(),
                                                                                                  LINKS).html
    assert compact.count("\n") < as_written.count("\n") * 0.6  # the two differ in their lines

    context = chromium.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        shots = []
        # The last: one character changed, to show the comparison sees a difference.
        for html in (compact, as_written, compact.replace("Paper 1:", "Paper l:")):
            page.set_content(html)
            shots.append(page.screenshot(full_page=True))
    finally:
        context.close()
    assert shots[0] == shots[1]
    assert shots[2] != shots[0]
