"""Accessibility in a real browser (Debian's Chromium via Playwright).

axe-core (the copy bundled in the `axe-playwright-python` package: nothing is fetched at test
time) checks every page a person can reach, in the light and the dark colour scheme, for
WCAG 2.0/2.1/2.2 A and AA rules and axe's best practices. The other tests pin what an audit
found that axe does not see: an invalid field's red border, where focus goes after a failed
submit, the schedule row on a narrow phone, query examples that must not break inside a
token, and the page's meta description. Results per page go to test-artifacts/axe-*.json, with
a screenshot of each page (a11y-*.png).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.browser import (
    ARTIFACTS,
    link_in_text,
    received,
    send_mail,
    unsubscribe_header_link,
    watch_problems,
)

pytestmark = pytest.mark.slow

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Widths: a small phone (iPhone SE/mini class), the WCAG 1.4.10 reflow width, a desktop.
PHONE, REFLOW, DESKTOP = 375, 320, 1024


@pytest.fixture
def axe():
    module = pytest.importorskip("axe_playwright_python.sync_playwright",
                                 reason="axe-playwright-python is not installed (pip install -e '.[test]')")
    return module.Axe()


def open_page(chromium, *, scheme: str = "light", width: int = PHONE, zone: str = "UTC"):
    context = chromium.new_context(color_scheme=scheme, viewport={"width": width, "height": 800}, timezone_id=zone)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def submit(page, button: str = "button[type=submit]") -> None:
    with page.expect_navigation():
        page.click(button)


def focused_class(page) -> str:
    """The class of the focused element, once autofocus has run: browsers apply `autofocus` at
    the next rendering opportunity after load, not at the load event itself, so wait for it."""
    page.wait_for_function("document.activeElement && document.activeElement !== document.body")
    return page.evaluate("document.activeElement.className")


def subscribe_with_errors(page, base: str) -> None:
    """A first try with a bad address and an unreadable query (email and interests invalid)."""
    page.goto(f"{base}/")
    page.fill("#email", "ada@")
    page.fill("#interests", '"token pooling" OR')
    submit(page)
    page.wait_for_selector("#interests-error")


def open_manage_page(page, site, cli, sink) -> None:
    """Subscribe, confirm from the email, follow the manage link: the real way there."""
    page.goto(f"{site.base}/")
    page.fill("#email", "ada@example.org")
    page.fill("#interests", "pruning")
    submit(page)
    send_mail(cli)
    page.goto(link_in_text(received(sink)[-1], site.base, "confirm"))
    submit(page)
    submit(page, "text=Manage your subscription")


def visit_every_page(page, site, cli, sink, check) -> None:
    """Walk every page a visitor can reach, calling check(name) on each once it has loaded."""
    base = site.base
    page.goto(f"{base}/")
    check("subscribe")
    subscribe_with_errors(page, base)
    check("subscribe, with errors")
    page.fill("#email", "ada@example.org")
    page.fill("#interests", "pruning OR quantization")
    submit(page)
    check("subscribed (check your inbox)")
    send_mail(cli)
    page.goto(link_in_text(received(sink)[-1], base, "confirm"))
    check("confirm button")
    submit(page)
    check("confirmed")
    submit(page, "text=Manage your subscription")
    check("manage")
    page.fill("#max_papers", "0")
    submit(page, "button[value=save]")
    page.wait_for_selector("#max_papers-error")
    check("manage, with errors")
    page.fill("#max_papers", "5")
    submit(page, "button[value=save]")
    page.wait_for_selector(".notice")
    check("manage, saved")
    send_mail(cli, "--now")
    page.goto(unsubscribe_header_link(received(sink)[-1], base))
    check("unsubscribe button")
    submit(page)
    check("unsubscribed")
    for name, path in (("error 404", "/no-such-page"), ("error 400, bad link", "/manage/not-a-token"),
                       ("error 400, bad confirm link", "/confirm/not-a-token")):
        page.goto(f"{base}{path}")
        check(name)
    page.goto(f"{base}/")
    page.context.clear_cookies()  # the CSRF cookie is gone: the form has expired
    page.fill("#email", "bob@example.org")
    submit(page)
    check("error 403, expired form")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_any_page(site, chromium, axe, cli, smtp_sink, scheme):
    page = open_page(chromium, scheme=scheme)
    problems = watch_problems(page)
    found: dict[str, list[dict]] = {}

    def check(name: str) -> None:
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                         "resultTypes": ["violations"]})
        found[name] = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                        "targets": [node["target"] for node in v["nodes"]]} for v in results.response["violations"]]
        slug = "".join(ch if ch.isalnum() else "-" for ch in name)
        page.screenshot(path=str(ARTIFACTS / f"a11y-{scheme}-{len(found):02d}-{slug}.png"), full_page=True)

    ARTIFACTS.mkdir(exist_ok=True)
    visit_every_page(page, site, cli, smtp_sink, check)
    (ARTIFACTS / f"axe-{scheme}.json").write_text(json.dumps(found, indent=2))
    assert len(found) == 14, sorted(found)
    assert {name: v for name, v in found.items() if v} == {}
    assert [p for p in problems if "status of 4" not in p] == []  # the 400/403/404 pages aside


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_invalid_field_gets_the_error_border(site, chromium, cli, smtp_sink, scheme):
    page = open_page(chromium, scheme=scheme)
    subscribe_with_errors(page, site.base)
    error_colour = page.eval_on_selector(".summary", "e => getComputedStyle(e).borderTopColor")

    def border(selector: str) -> tuple[str, str]:
        return tuple(page.eval_on_selector(selector, "e => [getComputedStyle(e).borderTopColor, "
                                                     "getComputedStyle(e).borderTopWidth]"))

    assert border("#email[aria-invalid=true]") == (error_colour, "2px")
    assert border("#interests[aria-invalid=true]") == (error_colour, "2px")
    assert border("#send_hour:not([aria-invalid])")[0] != error_colour  # a valid field keeps its own

    page.context.clear_cookies()
    open_manage_page(page, site, cli, smtp_sink)
    page.fill("#max_papers", "500")
    submit(page, "button[value=save]")
    assert border("#max_papers[aria-invalid=true]") == (error_colour, "2px")


CONTRAST = """([fg, bg]) => {
  const luminance = colour => {
    const [r, g, b] = colour.match(/\\d+/g).slice(0, 3).map(v => v / 255)
      .map(c => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [high, low] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  return (high + 0.05) / (low + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_form_field_edge_has_3_to_1_contrast(site, chromium, scheme):
    """WCAG 1.4.11 (non-text contrast), which axe does not check: a field is seen by its border."""
    page = open_page(chromium, scheme=scheme)
    page.goto(f"{site.base}/")
    card = page.eval_on_selector(".card", "e => getComputedStyle(e).backgroundColor")
    edges = page.eval_on_selector_all("input:not([type=hidden]):not([type=radio]), select, textarea",
                                      "all => all.map(e => [e.id, getComputedStyle(e).borderTopColor])")
    assert len(edges) == 5
    low = {name: round(page.evaluate(CONTRAST, [colour, card]), 2) for name, colour in edges}
    assert {name: ratio for name, ratio in low.items() if ratio < 3} == {}


def test_a_failed_submit_moves_focus_to_the_error_summary(site, chromium, cli, smtp_sink):
    page = open_page(chromium)
    page.goto(f"{site.base}/")
    assert page.evaluate("document.activeElement === document.body")  # nothing is focused on a fresh form
    assert not page.title().startswith("Error")
    subscribe_with_errors(page, site.base)
    assert focused_class(page) == "summary"
    assert page.title() == "Error: Subscribe · Paper Digest"
    page.keyboard.press("Tab")  # and the next Tab reaches the summary's first link
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#email"

    open_manage_page(page, site, cli, smtp_sink)
    assert not page.title().startswith("Error")
    page.fill("#max_papers", "0")
    submit(page, "button[value=save]")
    assert focused_class(page) == "summary"
    assert page.title() == "Error: Your subscription · Paper Digest"


SELECTED_LABEL_FITS = """select => {
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = context.measureText(select.options[select.selectedIndex].label).width;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
  return [text, room];
}"""


@pytest.mark.parametrize("width", [REFLOW, PHONE])
def test_the_schedule_row_stacks_on_a_phone(site, chromium, width):
    page = open_page(chromium, width=width, zone="America/Los_Angeles")
    page.goto(f"{site.base}/")
    assert page.locator("#timezone").input_value() == "America/Los_Angeles"
    text, room = page.eval_on_selector("#timezone", SELECTED_LABEL_FITS)
    assert text <= room, f"the chosen zone's label needs {text:.0f}px, the select shows {room:.0f}px"
    zone, hour = page.locator("#timezone").bounding_box(), page.locator("#send_hour").bounding_box()
    assert hour["y"] >= zone["y"] + zone["height"]  # "Send at" sits under "Time zone"
    # WCAG 1.4.10 reflow: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_schedule_row_stays_one_row_on_a_desktop(site, chromium):
    page = open_page(chromium, width=DESKTOP)
    page.goto(f"{site.base}/")
    zone, hour = page.locator("#timezone").bounding_box(), page.locator("#send_hour").bounding_box()
    assert hour["y"] == zone["y"] and hour["x"] > zone["x"] + zone["width"]


@pytest.mark.parametrize("width", [REFLOW, PHONE, DESKTOP])
def test_query_examples_never_break_inside_a_token(site, chromium, width):
    page = open_page(chromium, width=width)
    page.goto(f"{site.base}/")
    examples = page.locator(".syntax code")
    assert examples.count() >= 10 and "-medical" in examples.all_inner_texts()
    broken = page.eval_on_selector_all(".syntax code", "all => all.filter(e => e.getClientRects().length > 1)"
                                                       ".map(e => e.textContent)")
    assert broken == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_home_page_has_a_meta_description(site, chromium):
    page = open_page(chromium)
    page.goto(f"{site.base}/")
    description = page.get_attribute("meta[name=description]", "content")
    assert description and 50 <= len(description) <= 160, description  # what search results show
    page.goto(f"{site.base}/no-such-page")
    assert page.locator("meta[name=description]").count() == 0  # only pages worth a search result
