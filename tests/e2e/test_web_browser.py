"""The whole sign-up journey in a real headless browser (Debian's Chromium via Playwright).

uvicorn serves the real app on 127.0.0.1 in a thread; the real `digest run` delivers the
confirmation email to an aiosmtpd sink; the browser follows the link from that email,
reaches the manage page and unsubscribes with its button. Screenshots of every step go
to test-artifacts/ (git-ignored). Also: the time zone list as a browser shows it, and zone
detection under the old names Chromium reports. Skips when Chromium or Playwright is missing
(see tests/e2e/browser.py); accessibility checks are in test_accessibility.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digest.store.tables import deliveries, subscribers
from tests.e2e.browser import (
    ARTIFACTS,
    eventually,
    link_in_text,
    received,
    send_mail,
    watch_problems,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_page(chromium):
    # A Berlin browser: the subscribe page should preselect that zone by itself.
    context = chromium.new_context(timezone_id="Europe/Berlin", viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, watch_problems(page)
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def status(engine, address: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(subscribers.c.status).where(subscribers.c.email == address)).scalar_one_or_none()


def test_subscribe_confirm_manage_and_unsubscribe_in_a_browser(site, browser_page, cli, smtp_sink):
    base, engine = site.base, site.engine
    page, problems = browser_page

    page.goto(f"{base}/")
    assert page.locator("#timezone").input_value() == "Europe/Berlin"  # preselected by /static/tz.js
    page.fill("#email", "ada@example.org")
    page.fill("#interests", '"token pooling" OR')
    page.select_option("#send_hour", "8")
    page.click("button[type=submit]")
    page.wait_for_selector("#interests-error")  # shown again with the values kept and the spot marked
    assert page.locator("#email").input_value() == "ada@example.org"
    assert page.locator("#timezone").input_value() == "Europe/Berlin"
    shot(page, "1-subscribe-error")
    page.fill("#interests", '"token pooling" OR normalization')
    shot(page, "2-subscribe")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    shot(page, "3-check-inbox")
    assert eventually(lambda: status(engine, "ada@example.org")) == "pending"

    send_mail(cli)  # the real sender drains the outbox: the confirmation
    [confirmation] = received(smtp_sink)
    page.goto(link_in_text(confirmation, base, "confirm"))
    page.wait_for_selector("text=Confirm my subscription")
    assert status(engine, "ada@example.org") == "pending"  # opening the link alone confirms nothing
    page.click("text=Confirm my subscription")
    page.wait_for_selector("text=You're subscribed")
    shot(page, "4-confirmed")
    assert status(engine, "ada@example.org") == "active"

    page.click("text=Manage your subscription")
    page.wait_for_selector("text=What your keywords matched in the last 7 days")
    assert page.locator("ol.papers li").count() > 0
    assert page.locator("#timezone").input_value() == "Europe/Berlin"
    shot(page, "5-manage")
    page.click("button[value=unsubscribe]")
    page.wait_for_selector("text=You're unsubscribed")
    shot(page, "6-unsubscribed")
    assert status(engine, "ada@example.org") == "unsubscribed"
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.kind, deliveries.c.status)).all() == [("confirm", "sent")]
    # No script errors, no CSP violations, no missing resources (the form's own 400 aside).
    assert [p for p in problems if "status of 400" not in p] == []


# Chromium reports some zones by their old names (Asia/Calcutta, Europe/Kiev, Asia/Saigon):
# the list offers only the current ones, and detection must still find them.
@pytest.mark.parametrize(("browser_zone", "listed"), [
    ("Asia/Kolkata", "Asia/Kolkata"), ("Europe/Kyiv", "Europe/Kyiv"), ("Asia/Ho_Chi_Minh", "Asia/Ho_Chi_Minh"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"), ("Etc/UTC", "UTC"),
    ("America/Los_Angeles", "America/Los_Angeles"),
])
def test_the_browser_zone_is_preselected_even_under_an_old_name(site, chromium, browser_zone, listed):
    context = chromium.new_context(timezone_id=browser_zone)
    page = context.new_page()
    problems = watch_problems(page)
    page.goto(f"{site.base}/")
    reported = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert page.locator("#timezone").input_value() == listed, f"the browser reports {reported}"
    label = page.eval_on_selector("#timezone", "s => s.options[s.selectedIndex].label")
    assert label == "UTC" or label.startswith(listed.partition("/")[2].replace("_", " ").replace("/", " / ") + " (UTC")
    assert problems == []
    context.close()


def test_the_zone_list_is_grouped_by_region_with_offsets(site, chromium):
    page = chromium.new_page()
    page.goto(f"{site.base}/")
    groups = page.eval_on_selector_all("#timezone optgroup", "all => all.map(g => g.label)")
    assert groups[:2] == ["Africa", "Americas"] and "Europe" in groups and groups == sorted(groups)
    labels = page.eval_on_selector_all("#timezone option", "all => all.map(o => o.label)")
    values = page.eval_on_selector_all("#timezone option", "all => all.map(o => o.value)")
    assert values[0] == "UTC" and not {"Factory", "localtime", "Etc/GMT+5", "US/Pacific", "Asia/Calcutta"} & set(values)
    berlin = labels[values.index("Europe/Berlin")]
    assert berlin in ("Berlin (UTC+01:00)", "Berlin (UTC+02:00)")
    page.close()
