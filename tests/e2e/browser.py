"""The real web app in a real browser: uvicorn on 127.0.0.1 and Debian's Chromium via Playwright.

Fixtures (tests/e2e/conftest.py offers them to the end-to-end tests):

* `site` -> Site: the app served by uvicorn in a thread, configured like production through
  DIGEST_* variables, over a fresh SQLite database holding two sample snapshots, sending
  to the `smtp_sink`; the `cli` fixture works on the same database.
* `chromium` -> a launched Playwright Browser (headless, with the flags this machine needs).

Modules using them skip, saying why, when Playwright or /usr/bin/chromium is missing
(`.ci/run` installs chromium). Helpers read links from the emails the sink received, the
way a person gets them.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import Engine

from digest import jobs
from digest.config import load_settings
from digest.web import create_app
from tests.web_server import uvicorn_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = f"no {CHROMIUM} (apt-get install chromium)"
SNAPSHOTS = ("hf-listing-compact.txt", "hf-listing-with-metadata.txt")


@dataclass(frozen=True, slots=True)
class Site:
    base: str
    engine: Engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(database_url, monkeypatch, smtp_sink, samples) -> Iterator[Site]:
    """The app under uvicorn at its base URL (SQLite only: a browser run costs seconds)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("browser tests run once, on SQLite")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for name, value in {"DATABASE_URL": database_url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_sink.port),
                        "SECRET_KEY": "browser-test-secret-key-0123456789abcdef", "BASE_URL": base,
                        "FROM": "Paper Digest <digest@example.org>"}.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    app = create_app(load_settings())
    engine = app.state.web.engine
    for name in SNAPSHOTS:
        jobs.ingest_bytes(engine, (samples / "snapshots" / name).read_bytes(), input=name)
    with uvicorn_thread(app, port, log_level="warning"):
        yield Site(base, engine)


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Playwright package is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watch_problems(page) -> list[str]:
    """Script errors, CSP violations and failed loads the page reports from now on."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` in a fresh thread: Playwright's sync API keeps an event loop running in this
    one, and `digest run` starts its own with asyncio.run."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(60)
    assert result, "the command did not finish"
    return result[0]


def eventually(probe: Callable[[], Any], seconds: float = 10.0) -> Any:
    """probe()'s first truthy answer (the app applies sign-ups in the background), else its last."""
    deadline = time.monotonic() + seconds
    while not (answer := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


def send_mail(cli, *args: str) -> None:
    """`digest run` (the real sender) drains the outbox into the sink, once there is mail to send."""

    def run() -> int:
        ran = in_thread(lambda: cli("run", "--json", *args))
        assert ran.exit_code == 0, (ran.stdout, ran.stderr)
        return ran.json()["sent"]

    assert eventually(run) >= 1, "nothing was sent"


def received(sink) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.handler.messages]


def link_in_text(message: EmailMessage, base: str, purpose: str) -> str:
    """The first `base/purpose/...` link in the plain-text part."""
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"{re.escape(base)}/{purpose}/[^\s>]+", text).group(0)


def unsubscribe_header_link(message: EmailMessage, base: str) -> str:
    """The https/http link of List-Unsubscribe (what a mail client offers)."""
    return re.search(rf"<({re.escape(base)}/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"])).group(1)
