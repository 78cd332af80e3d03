"""Issue 15, replayed against `digest serve` over HTTP (a real process, a real SMTP sink, the
CLI through its entry point) on SQLite and PostgreSQL. Each numbered attack of the issue's
"Why" has a test here that failed on the code the issue was filed against, and the attacks
that held then (forged tokens, CSRF, GET safety, HTML/header injection, XML bombs) are
replayed so none can come back. Links are taken from the emails the sink received, the way
a person (or an attacker holding an old email) gets them.
"""

from __future__ import annotations

import email
import email.policy
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import PG_URL, _drop_schema, _postgres_schema_url
from tests.smtp_server import RunningServer, SinkHandler, start_server

pytestmark = pytest.mark.slow

KEY = "security-test-key-0123456789abcdefghijklmnop"
METRICS_TOKEN = "metrics-token-0123456789abcdefghijklmnop"
OLD_EXAMPLE_KEY = "change-me-to-a-long-random-string-before-any-real-use"  # deploy/secret_key.example
ROOT = Path(__file__).resolve().parents[2]


# ---- a running site --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env(database_url: str, sink_port: int, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DIGEST_")}
    env.update(DIGEST_DATABASE_URL=database_url, DIGEST_SECRET_KEY=KEY, DIGEST_SMTP_HOST="127.0.0.1",
               DIGEST_SMTP_PORT=str(sink_port), DIGEST_FROM="Paper Digest <digest@digest-fixture.net>",
               DIGEST_METRICS_TOKEN=METRICS_TOKEN, DIGEST_SUBSCRIBE_RATE_PER_HOUR="1000", PYTHONPATH=str(ROOT))
    env.update({f"DIGEST_{name.upper()}": value for name, value in settings.items()})
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@dataclass
class Site:
    url: str
    env: dict[str, str]
    sink: RunningServer
    process: subprocess.Popen | None = None

    def start(self, *args: str) -> "Site":
        port = int(self.url.rsplit(":", 1)[1])
        self.process = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port), *args],
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("serve did not start")

    def stop(self) -> str:
        """SIGTERM, wait, and return what serve wrote to stderr."""
        if self.process is None:
            return ""
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        self.process = None
        return err.decode()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli(self.env, *args)

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(m.data, policy=email.policy.default)
                for m in self.sink.handler.messages if address in m.rcpt_tos]

    def wait_mail(self, address: str, count: int = 1, seconds: float = 30) -> email.message.EmailMessage:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.mails_to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.2)
        raise AssertionError(f"no email #{count} to {address} within {seconds}s")

    def subscriber(self, address: str) -> dict | None:
        """The stored row, read directly (the CLI would cost a second of start-up per look)."""
        from sqlalchemy import create_engine, func, select

        from digest.store.tables import subscribers

        engine = create_engine(self.env["DIGEST_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                row = conn.execute(select(subscribers).where(func.lower(subscribers.c.email) == address.lower())).first()
        finally:
            engine.dispose()
        return None if row is None else dict(row._mapping)

    def confirmations_to(self, address: str) -> int:
        """Confirmation emails queued for `address` once the sign-up queue is empty."""
        from sqlalchemy import create_engine, func, select

        from digest.store.tables import deliveries, signup_requests

        engine = create_engine(self.env["DIGEST_DATABASE_URL"])
        try:
            deadline = time.monotonic() + 20
            with engine.connect() as conn:
                while conn.execute(select(func.count()).select_from(signup_requests)).scalar_one():
                    assert time.monotonic() < deadline, "the sign-up queue was not applied"
                    conn.rollback()
                    time.sleep(0.1)
            row = self.subscriber(address)
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(deliveries).where(
                    deliveries.c.subscriber_id == row["id"], deliveries.c.kind == "confirm")).scalar_one()
        finally:
            engine.dispose()


def link_in(message: email.message.EmailMessage, purpose: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"https?://[^\s/]+(/{purpose}/[A-Za-z0-9._-]+)", text).group(1)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signup(client: httpx.Client, address: str, **fields: str) -> httpx.Response:
    token = csrf_of(client.get("/").text)
    form = {"csrf_token": token, "email": address, "interests": "", "timezone": "UTC", "send_hour": "7",
            "frequency": "daily", "weekday": "0"} | fields
    return client.post("/subscribe", data=form)


def confirm(client: httpx.Client, path: str) -> httpx.Response:
    return client.post(path)


def manage_post(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    """A form post with this browser's CSRF token (any form page gives it; a dead link's page has none)."""
    return client.post(path, data={"csrf_token": csrf_of(client.get("/").text), **fields})


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.org"


@pytest.fixture(scope="module")
def sink() -> Iterator[RunningServer]:
    with start_server(SinkHandler()) as server:
        yield server


def _database(kind: str, folder: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'site.db'}", None
    if not PG_URL:
        pytest.skip("PostgreSQL tests need DIGEST_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return _postgres_schema_url(PG_URL)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, sink, tmp_path_factory) -> Iterator[Site]:
    """One `digest serve` per backend, shared by the tests that do not need their own."""
    url, schema = _database(request.param, tmp_path_factory.mktemp("site"))
    running = Site(f"http://127.0.0.1:{free_port()}", {}, sink)
    running.env = base_env(url, sink.port, base_url=running.url)
    assert running.cli("db", "upgrade").returncode == 0
    running.start("--no-scheduler")
    yield running
    running.stop()
    if schema:
        _drop_schema(PG_URL, schema)


@pytest.fixture
def own_site(database_url, sink, tmp_path) -> Iterator[Site]:
    """A site of its own (not started): for tests that restart it, break it or change settings."""
    running = Site(f"http://127.0.0.1:{free_port()}", {}, sink)
    running.env = base_env(database_url, sink.port, base_url=running.url)
    assert running.cli("db", "upgrade").returncode == 0
    yield running
    running.stop()


def subscribe_and_confirm(site: Site, client: httpx.Client, address: str) -> tuple[str, str]:
    """(confirm path, manage path) of a new active subscriber, as their emails give them."""
    assert signup(client, address).status_code == 200
    confirm_path = link_in(site.wait_mail(address), "confirm")
    page = confirm(client, confirm_path)
    assert page.status_code == 200 and "subscribed" in page.text, page.text
    return confirm_path, re.search(r'href="https?://[^/"]+(/manage/[^"]+)"', page.text).group(1)


# ---- 1 (HIGH): an old link controls the next subscriber ---------------------------------------


def test_1_a_removed_subscribers_links_never_reach_the_next_subscriber(site):
    ada, bob = fresh("ada"), fresh("bob")
    with site.browser() as client:
        confirm_path, manage_path = subscribe_and_confirm(site, client, ada)
        ada_id = site.subscriber(ada)["id"]
        assert site.cli("subscribers", "remove", ada, "--yes").returncode == 0
        subscribe_and_confirm(site, client, bob)
        assert site.subscriber(bob)["id"] != ada_id  # ids are never reused
        page = client.get(manage_path)
        assert page.status_code == 404 and bob not in page.text
        assert manage_post(client, manage_path, action="unsubscribe").status_code == 404
        assert confirm(client, confirm_path).status_code == 400
    assert site.subscriber(bob)["status"] == "active"


def test_1_a_removed_pending_subscribers_confirm_link_does_not_confirm_the_next_sign_up(site):
    ada, bob = fresh("ada"), fresh("bob")
    with site.browser() as client:
        signup(client, ada)
        ada_confirm = link_in(site.wait_mail(ada), "confirm")
        site.cli("subscribers", "remove", ada, "--yes")
        signup(client, bob)
        site.wait_mail(bob)
        assert confirm(client, ada_confirm).status_code == 400
    assert site.subscriber(bob)["status"] == "pending"


def test_1_two_people_are_never_sent_the_same_message_id(site):
    ada, bob = fresh("ada"), fresh("bob")
    with site.browser() as client:
        signup(client, ada)
        first = site.wait_mail(ada)["Message-ID"]
        site.cli("subscribers", "remove", ada, "--yes")  # its outbox row goes with it
        signup(client, bob)
        second = site.wait_mail(bob)["Message-ID"]
    assert first != second
    assert len(site.sink.handler.message_ids) == len(set(site.sink.handler.message_ids))


def test_1_unsubscribe_links_only_unsubscribe_and_resuming_needs_a_new_confirmation(site, tmp_path):
    ada = fresh("ada")
    feed = tmp_path / "papers.xml"
    feed.write_text(_feed([("2612.00001", "Attention pooling for everyone")]))
    assert site.cli("ingest", str(feed)).returncode == 0
    assert site.cli("subscribers", "add", ada, "--keywords", "pooling", "--confirmed").returncode == 0
    assert site.cli("run", "--now", "--only", ada).returncode == 0
    digest = site.wait_mail(ada)
    manage_path, unsubscribe_path = link_in(digest, "manage"), link_in(digest, "unsubscribe")
    assert unsubscribe_path in digest["List-Unsubscribe"]  # what mail clients' own button posts to
    with site.browser() as client:
        assert client.get(unsubscribe_path).status_code == 200 and site.subscriber(ada)["status"] == "active"
        page = client.post(unsubscribe_path, data={"List-Unsubscribe": "One-Click"})
        assert page.status_code == 200 and "/manage/" not in page.text  # it opens nothing else
        assert site.subscriber(ada)["status"] == "unsubscribed"
        resumed = manage_post(client, manage_path, action="resume")  # the manage link of that old email
    assert resumed.status_code == 200 and "emailed you a confirmation link" in resumed.text
    assert site.subscriber(ada)["status"] == "pending"  # not active without the new email's link
    confirm_path = link_in(site.wait_mail(ada, 2), "confirm")
    with site.browser() as client:
        assert confirm(client, confirm_path).status_code == 200
    assert site.subscriber(ada)["status"] == "active"


# ---- 2 (HIGH): weak or missing secrets are accepted --------------------------------------------------


@pytest.mark.parametrize("settings,words", [
    ({"secret_key": ""}, "DIGEST_SECRET_KEY is not set"),
    ({"secret_key": "x"}, "1 bytes long"),
    ({"secret_key": OLD_EXAMPLE_KEY}, "example or demo value"),
    ({"secret_key": "demo-secret-not-for-production"}, "example or demo value"),
])
def test_2_serve_refuses_a_missing_weak_or_example_key(tmp_path, sink, settings, words):
    env = base_env(f"sqlite:///{tmp_path / 'unused.db'}", sink.port, **settings)
    ran = run_cli(env, "serve", "--port", str(free_port()), timeout=30)
    assert ran.returncode == 1 and words in ran.stderr and "token_urlsafe(48)" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and "Traceback" not in ran.stderr


def test_2_the_example_key_file_is_refused_and_an_empty_variable_does_not_hide_a_good_file(own_site, tmp_path):
    example = tmp_path / "secret_key.example"
    example.write_text(OLD_EXAMPLE_KEY + "\n")
    own_site.env.update(DIGEST_SECRET_KEY="", DIGEST_SECRET_KEY_FILE=str(example))
    ran = run_cli(own_site.env, "serve", "--port", str(free_port()), timeout=30)
    assert ran.returncode == 1 and "DIGEST_SECRET_KEY_FILE is an example" in ran.stderr
    good = tmp_path / "secret_key"
    good.write_text(KEY)
    own_site.env["DIGEST_SECRET_KEY_FILE"] = str(good)
    own_site.start("--no-scheduler")
    with own_site.browser() as client:
        assert signup(client, fresh("ada")).status_code == 200  # was a 500: the empty variable won


def test_2_links_forged_with_the_example_key_change_nothing(site):
    from digest.tokens import make_token, sign_link

    victim = fresh("victim")
    with site.browser() as client:
        subscribe_and_confirm(site, client, victim)
        victim_id = site.subscriber(victim)["id"]
        for sid in range(1, victim_id + 1):
            for token in (make_token(OLD_EXAMPLE_KEY, "manage", sid), sign_link(OLD_EXAMPLE_KEY, "manage", sid, "guess")):
                page = client.get(f"/manage/{token}")
                assert page.status_code == 400 and "@" not in page.text.split("<main", 1)[1]
            forged = make_token(OLD_EXAMPLE_KEY, "unsubscribe", sid)
            assert client.post(f"/unsubscribe/{forged}").status_code == 400
    assert site.subscriber(victim)["status"] == "active"


# ---- 3: /metrics is public and tells a new sign-up from a known one -----------------------------------


def test_3_metrics_need_the_bearer_token(site):
    with site.browser() as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "digest_subscribers" in scraped.text


def test_3_metrics_are_off_without_a_token(own_site):
    del own_site.env["DIGEST_METRICS_TOKEN"]
    own_site.start("--no-scheduler")
    assert httpx.get(f"{own_site.url}/metrics").status_code == 404


def test_3_a_new_and_a_known_address_get_the_same_answer_and_do_the_same_work(site):
    known = fresh("known")
    with site.browser() as client:
        subscribe_and_confirm(site, client, known)
        answers = [signup(client, address) for address in (fresh("new"), known, known.upper())]
    assert len({a.content for a in answers}) == 1 and len({a.status_code for a in answers}) == 1
    assert len({tuple(sorted(k for k in a.headers if k not in ("date", "set-cookie"))) for a in answers}) == 1


# ---- 4: CSV export writes spreadsheet formulas --------------------------------------------------------


def test_4_an_export_of_web_sign_ups_runs_no_formula_and_imports_back(site, tmp_path):
    queries = ["-2+3", "+pooling", "-medical pooling", '=HYPERLINK OR "evil"', "@SUM OR cmd"]
    with site.browser() as client:
        for query in queries:
            assert signup(client, fresh("sheet"), interests=query).status_code == 200
    deadline = time.monotonic() + 20
    exported = site.cli("subscribers", "export")
    while exported.stdout.count("sheet-") < len(queries) and time.monotonic() < deadline:
        time.sleep(0.3)
        exported = site.cli("subscribers", "export")
    rows = [line.split(",") for line in exported.stdout.splitlines()]
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@")]
    path = tmp_path / "people.csv"
    path.write_text(exported.stdout, newline="")
    other = dict(site.env, DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'copy.db'}")
    assert run_cli(other, "subscribers", "import", str(path), "--apply").returncode == 0
    assert run_cli(other, "subscribers", "export").stdout == exported.stdout


# ---- 5: a non-ASCII From domain; a dead sender behind a green /healthz ------------------------------------


def test_5_an_idn_from_domain_is_sent_as_punycode(own_site):
    own_site.env["DIGEST_FROM"] = "Bücher Digest <digest@bücher.example>"
    ada = fresh("ada")
    assert own_site.cli("subscribers", "add", ada).returncode == 0  # pending: a confirmation is queued
    ran = own_site.cli("run")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    message = own_site.wait_mail(ada)
    assert "digest@xn--bcher-kva.example" in message["From"] and "xn--bcher-kva.example" in message["Message-ID"]


def test_5_from_with_two_addresses_is_refused_at_start(tmp_path, sink):
    env = base_env(f"sqlite:///{tmp_path / 'unused.db'}", sink.port, **{"from": "digest@example.org, boss@example.org"})
    ran = run_cli(env, "serve", "--port", str(free_port()), timeout=30)
    assert ran.returncode == 1 and "exactly one address, found 2" in ran.stderr


def test_5_a_crashed_sender_turns_healthz_red_and_is_logged_once(own_site):
    from sqlalchemy import text

    from digest.store.db import make_engine

    own_site.start()
    assert httpx.get(f"{own_site.url}/healthz").status_code == 200
    engine = make_engine(own_site.env["DIGEST_DATABASE_URL"])
    with engine.begin() as conn:  # the outbox becomes unreadable: every claim raises
        conn.execute(text("ALTER TABLE deliveries RENAME TO deliveries_gone"))
    engine.dispose()
    deadline, answer = time.monotonic() + 20, None
    while time.monotonic() < deadline:
        answer = httpx.get(f"{own_site.url}/healthz")
        if answer.status_code == 503:
            break
        time.sleep(0.3)
    assert answer.status_code == 503 and "sender" in answer.json()["failing"]
    time.sleep(3)  # it keeps failing and restarting: still logged once
    log = own_site.stop()
    assert log.count("sender failed") == 1 and "deliveries" in log and "Traceback" in log


# ---- 6: unbounded bodies, unlimited POSTs, X-Forwarded-For from loopback ----------------------------------


def test_6_a_huge_form_is_refused_before_it_is_read(site):
    host, port = site.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 209715200\r\n\r\n" + b"email=" + b"a" * 65536)
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - started < 5
    chunks = (b"a" * 16384 for _ in range(8))  # 128 KB sent chunked, no Content-Length
    refused = httpx.post(f"{site.url}/subscribe", content=chunks,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 413


def test_6_every_post_is_rate_limited_and_x_forwarded_for_is_not_believed(own_site):
    own_site.env["DIGEST_SUBSCRIBE_RATE_PER_HOUR"] = "2"
    own_site.start("--no-scheduler")
    with own_site.browser() as client:
        codes = [client.post("/subscribe", data={"email": "x"},
                             headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(3)]
        assert codes == [403, 403, 429]  # counted before anything else; the header changed nothing
        manage = [client.post("/manage/forged-token", data={}).status_code for _ in range(61)]
        assert manage[:60] == [400] * 60 and manage[60] == 429
    own_site.stop()
    own_site.start("--no-scheduler")  # limits are in the database: a restart forgets nothing
    assert httpx.post(f"{own_site.url}/subscribe", data={"email": "x"}).status_code == 429


def test_6_x_forwarded_for_is_believed_from_a_trusted_proxy_only(own_site):
    own_site.env.update(DIGEST_SUBSCRIBE_RATE_PER_HOUR="1", DIGEST_TRUSTED_PROXIES="127.0.0.1")
    own_site.start("--no-scheduler")
    codes = [httpx.post(f"{own_site.url}/subscribe", data={}, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
             for n in range(3)]
    assert codes == [403, 403, 403]  # three clients behind the proxy, one sign-up each


# ---- 7: the LOW items -------------------------------------------------------------------------------------


def test_7_bad_days_are_a_400_without_a_traceback_and_the_connection_stays_open(site):
    host, port = site.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    for days in ("%C2%B2", "9" * 5000, "-1", "1e3"):
        connection.request("GET", f"/feeds/search.atom?q=pooling&days={days}")
        answer = connection.getresponse()
        assert answer.status == 400 and b"whole number" in answer.read()
    connection.request("GET", "/healthz")  # the same keep-alive connection still works
    assert connection.getresponse().status == 200
    connection.close()


def test_7_the_confirmation_limit_per_address_holds_across_restarts(own_site):
    victim = fresh("victim")
    own_site.start("--no-scheduler")
    with own_site.browser() as client:
        signup(client, victim)
    own_site.wait_mail(victim)
    own_site.stop()
    own_site.start("--no-scheduler")
    with own_site.browser() as client:
        signup(client, victim)
    assert own_site.confirmations_to(victim) == 1  # the second sign-up queued no second email


def test_7_the_personal_feed_is_private_and_does_not_show_the_query(site):
    ada, secret_query = fresh("ada"), "cryptanalysis OR lattice"
    assert site.cli("subscribers", "add", ada, "--keywords", secret_query, "--confirmed").returncode == 0
    token = site.subscriber(ada)["feed_token"]
    for fmt in ("atom", "rss"):
        feed = httpx.get(f"{site.url}/feeds/s/{token}.{fmt}")
        assert feed.status_code == 200 and feed.headers["cache-control"].startswith("private")
        assert "cryptanalysis" not in feed.text and "lattice" not in feed.text


def test_7_rss_titles_cannot_run_in_readers_that_render_them_as_html(site, tmp_path):
    feed = tmp_path / "hostile.xml"
    feed.write_text(_feed([("2612.00002", '<img src=x onerror="alert(1)"> Robust attention')]))
    assert site.cli("ingest", str(feed)).returncode == 0
    import xml.etree.ElementTree as ET

    rss = ET.fromstring(httpx.get(f"{site.url}/feeds/papers.rss").content)
    titles = [t.text for t in rss.iter("title") if t.text and "Robust attention" in t.text]
    # What a reader gets from the XML has no "<" to start a tag if it renders the title as HTML.
    assert titles and all("<" not in title and title.startswith("&lt;img") for title in titles)


def test_7_a_sqlite_database_in_a_missing_folder_is_refused_and_db_upgrade_creates_it(sink, tmp_path):
    missing = tmp_path / "no" / "such" / "folder"
    env = base_env(f"sqlite:///{missing / 'digest.db'}", sink.port)
    ran = run_cli(env, "serve", "--port", str(free_port()), timeout=30)
    assert ran.returncode == 2 and "does not exist" in ran.stderr and "digest db upgrade" in ran.stderr
    assert not missing.exists()
    assert run_cli(env, "db", "upgrade").returncode == 0 and (missing / "digest.db").exists()


def test_7_a_huge_paper_title_makes_no_email_gmail_would_clip(site, tmp_path):
    ada = fresh("ada")
    feed = tmp_path / "huge.xml"
    feed.write_text(_feed([("2612.00003", "Pooling " + "x" * 100_000)]))
    assert site.cli("ingest", str(feed)).returncode == 0
    assert site.cli("subscribers", "add", ada, "--keywords", "pooling", "--confirmed").returncode == 0
    assert site.cli("run", "--now", "--only", ada).returncode == 0
    assert len(site.wait_mail(ada).as_bytes()) < 102 * 1024


# ---- what held: forged tokens, CSRF, GET safety, injection, XML bombs ---------------------------------------


def test_held_tampered_links_and_posts_without_csrf_change_nothing(site):
    ada = fresh("ada")
    with site.browser() as client:
        _, manage_path = subscribe_and_confirm(site, client, ada)
        token = manage_path.rsplit("/", 1)[1]
        for at in range(0, len(token), 7):
            flipped = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]
            assert client.get(f"/manage/{flipped}").status_code in (400, 404)
        assert client.post(manage_path, data={"action": "unsubscribe"}).status_code == 403  # no CSRF token
        other = httpx.Client(base_url=site.url)  # another browser's token does not pass either
        assert client.post(manage_path, data={"action": "unsubscribe",
                                              "csrf_token": csrf_of(other.get("/").text)}).status_code == 403
        other.close()
        assert client.post("/subscribe", data={"email": fresh("x")}).status_code == 403
    assert site.subscriber(ada)["status"] == "active"


def test_held_gets_never_change_anything(site):
    ada = fresh("ada")
    with site.browser() as client:
        signup(client, ada)
        confirm_path = link_in(site.wait_mail(ada), "confirm")
        assert client.get(confirm_path).status_code == 200
        assert client.head(confirm_path).status_code in (200, 405)
    assert site.subscriber(ada)["status"] == "pending"


def test_held_html_and_header_injection_are_neutralised(site):
    with site.browser() as client:
        page = signup(client, '"><script>alert(1)</script>@example.org', interests='"<img src=x onerror=alert(1)>')
        assert page.status_code == 400 and "<script>alert(1)" not in page.text and "<img src=x" not in page.text
        page = signup(client, "ada@example.org\r\nBcc: everyone@example.org")
        assert page.status_code == 400
    assert site.subscriber("everyone@example.org") is None


def test_held_an_xml_bomb_is_refused_quickly(site, tmp_path):
    bomb = tmp_path / "bomb.xml"
    entities = "".join(f'<!ENTITY e{i} "{"&e%d;" % (i - 1) * 10}">' for i in range(1, 10))
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e0 "lol">{entities}]>'
                    '<rss version="2.0"><channel><title>&e9;</title><item><title>&e9;</title></item></channel></rss>')
    started = time.monotonic()
    ran = site.cli("ingest", str(bomb))
    assert ran.returncode != 0 and time.monotonic() - started < 30 and "Traceback" not in ran.stderr


# ---- helpers -------------------------------------------------------------------------------------------------


def _feed(papers: list[tuple[str, str]]) -> str:
    from xml.sax.saxutils import escape

    items = "".join(
        f"<item><title>{escape(title)}</title><link>https://arxiv.org/abs/{arxiv}</link>"
        f"<description>arXiv:{arxiv}v1 Announce Type: new\nAbstract: A study of pooling.</description>"
        f'<guid isPermaLink="false">oai:arXiv.org:{arxiv}v1</guid><category>cs.LG</category>'
        f"<dc:creator>Ada Lovelace</dc:creator></item>" for arxiv, title in papers)
    return ('<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel><title>cs.LG updates on '
            f"arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link><description>x</description>{items}"
            "</channel></rss>")
