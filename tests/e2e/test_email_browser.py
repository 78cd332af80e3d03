"""A digest's HTML, its lines joined (compose.html_lines), looks in Chromium exactly as the
templates wrote it: same pixels on a desktop and a phone, light and dark."""

from __future__ import annotations

import pytest

from digest.compose import Composer
from tests.e2e.browser import chromium  # noqa: F401 - fixture
from tests.fakes import SAMPLE_LINKS as LINKS
from tests.fakes import sample_digest


@pytest.mark.parametrize("width", [800, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_joined_lines_render_the_same_pixels(chromium, width, scheme):  # noqa: F811 - fixture
    compact = Composer(base_url="https://digest.example.org/").render_digest(sample_digest(), LINKS).html
    as_written = Composer(base_url="https://digest.example.org/", compact_html=False).render_digest(sample_digest(),
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
