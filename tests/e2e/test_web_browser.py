"""The whole sign-up journey in a real headless browser (Debian's Chromium via Playwright).

uvicorn serves the real app on 127.0.0.1 in a thread; the real `digest run` delivers the
confirmation email to an aiosmtpd sink; the browser follows the link from that email,
reaches the manage page and unsubscribes with its button. Screenshots of every step go
to test-artifacts/ (git-ignored). Skips when Chromium or Playwright is missing.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from digest import jobs
from digest.config import load_settings
from digest.store.tables import deliveries, subscribers
from digest.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the Playwright package is not installed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(database_url, monkeypatch, smtp_sink, samples):
    """The app under uvicorn at its base URL, configured like production through DIGEST_*."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the browser journey runs once, on SQLite")
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for name, value in {"DATABASE_URL": database_url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_sink.port),
                        "SECRET_KEY": "browser-test-secret-key", "BASE_URL": base,
                        "FROM": "Paper Digest <digest@example.org>"}.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    app = create_app(load_settings())
    engine = app.state.web.engine
    for name in ("hf-listing-compact.txt", "hf-listing-with-metadata.txt"):
        jobs.ingest_bytes(engine, (samples / "snapshots" / name).read_bytes(), input=name)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield base, engine
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser_page():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # A Berlin browser: the subscribe page should preselect that zone by itself.
        context = browser.new_context(timezone_id="Europe/Berlin", viewport={"width": 420, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        yield page, problems
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def status(engine, address: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(subscribers.c.status).where(subscribers.c.email == address)).scalar_one()


def confirmation_link(sink, base: str) -> str:
    [received] = sink.handler.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"{re.escape(base)}/confirm/\S+", text).group(0)


def in_thread(work):
    """Run `work` in a fresh thread: Playwright's sync API keeps an event loop running in this
    one, and `digest run` starts its own with asyncio.run."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(60)
    assert result, "the command did not finish"
    return result[0]


def test_subscribe_confirm_manage_and_unsubscribe_in_a_browser(site, browser_page, cli, smtp_sink):
    base, engine = site
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
    assert status(engine, "ada@example.org") == "pending"

    ran = in_thread(lambda: cli("run", "--json"))  # the real sender drains the outbox: the confirmation
    assert ran.exit_code == 0 and ran.json()["sent"] == 1, ran.stderr
    page.goto(confirmation_link(smtp_sink, base))
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
