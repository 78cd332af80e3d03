"""Red-team round on the web app, replayed over real HTTP (uvicorn on 127.0.0.1, a real
database, httpx as the attacker's client). Each test is one attack: the ones that found a
defect failed before their fix; the ones that held are here so they cannot come back.

Links are signed the way the emails sign them (`digest.links`), so the attacker holds
exactly what a subscriber's inbox (or a forwarded email) would give them.

One module though over 400 lines: every attack shares the served site and the attacker's
helpers, and one file is where the next red team looks for what was already tried.
"""

from __future__ import annotations

import http.client
import logging
import random
import re
import socket
import time
from contextlib import contextmanager
import xml.etree.ElementTree as ElementTree
from xml.sax.saxutils import escape
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import quote

import httpx
import feedparser
import pytest
import time_machine
from sqlalchemy import update

from digest import jobs
from digest.config import Settings
from digest.jobs import profiles
from digest.jobs.papers import find_papers
from digest.jobs.subscriber_views import list_subscribers, subscriber_by_id
from digest.jobs.subscribers import rotate_links
from digest.links import feed_url, link_token
from digest.ranking import build_index
from digest.store.tables import papers
from digest.subscribers import SubscriberSpec
from digest.tokens import PURPOSES, make_token, sign_link
from digest.web import create_app
from digest.web.security import exact_token
from tests.web_server import uvicorn_thread

SECRET = "attack-test-secret-key-0123456789abcdefghij"
SNAPSHOTS = ("hf-listing-compact.txt", "hf-listing-with-metadata.txt")
PRIVATE_TITLE = "Early signs of my own rare disease: a patient diary"
PRIVATE_DOI = "10.5555/private.2026.1"
# 960 characters as written; its normalised form ("(a AND b AND c) OR ...") is over 3,000.
LONG_CANONICAL = ",".join(["a b c"] * 160)


@dataclass
class Site:
    base: str
    engine: object

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, **kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(engine, database_url, **settings) -> Iterator[Site]:
    """The app under uvicorn (in a thread) with these settings, until the block ends."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(Settings(database_url=database_url, secret_key=SECRET, base_url=base, **settings), engine)
    with uvicorn_thread(app, port):
        yield Site(base, engine)


@pytest.fixture
def site(engine, database_url, samples) -> Iterator[Site]:
    """The app under uvicorn over a database holding two sample listings."""
    for name in SNAPSHOTS:
        jobs.ingest_bytes(engine, (samples / "snapshots" / name).read_bytes(), input=name)
    with serving(engine, database_url) as running:
        yield running


def add(site: Site, name: str, *, status: str = "active", interests: str = "pooling"):
    return jobs.add_subscriber(site.engine, SubscriberSpec(email=f"{name}@example.org", status=status,
                                                           interests=interests))


def path(purpose: str, row, payload=None) -> str:
    """The path of a link as the emails carry it (bound to the row's id and link secret)."""
    return f"/{purpose}/{link_token(SECRET, purpose, row, payload)}"


def raw_get(site: Site, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """GET `target` sent exactly as written (httpx would normalise "//x/" and friends)."""
    host, port = site.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", target, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def a_listed_paper(site: Site) -> int:
    with site.client() as client:
        entry = client.get("/feeds/papers.atom").text
    key = re.search(r"<id>tag:paper-digest,2026:([^<]+)</id>", entry).group(1)
    return next(p.id for p in find_papers(site.engine) if p.key == key)


# ---- signed links: purpose, person, age, and the exact bytes -------------------------------------


def test_attack_a_link_made_for_one_purpose_or_person_works_for_no_other(site):
    ada, bob = add(site, "ada"), add(site, "bob")
    pending = add(site, "pat", status="pending")
    with site.client() as client:
        tokens = {purpose: path(purpose, ada).rsplit("/", 1)[1] for purpose in ("manage", "unsubscribe", "feedback")}
        tokens["confirm"] = path("confirm", pending).rsplit("/", 1)[1]
        paper = a_listed_paper(site)
        for made_for, token in tokens.items():
            for used_as in ("manage", "unsubscribe", "confirm", "feedback"):
                query = f"?p={paper}&v=more" if used_as == "feedback" else ""
                status = client.get(f"/{used_as}/{token}{query}").status_code
                assert status == (200 if used_as == made_for else 400), (made_for, used_as, status)
                if used_as != made_for:
                    assert client.post(f"/{used_as}/{token}{query}").status_code in (400, 403), (made_for, used_as)
        # Bob's manage token with Ada's id spliced in (and the reverse) is a forgery.
        ada_body, bob_rest = tokens["manage"].split(".", 1)[0], path("manage", bob).split(".", 1)[1]
        assert client.get(f"/manage/{ada_body}.{bob_rest}").status_code == 400
    assert subscriber_by_id(site.engine, ada.id).status == "active"
    assert subscriber_by_id(site.engine, pending.id).status == "pending"


@pytest.mark.parametrize(("purpose", "days"), [("manage", 61), ("confirm", 4), ("feedback", 181), ("unsubscribe", 366)])
def test_attack_an_expired_or_future_dated_link_changes_nothing(site, purpose, days):
    row = add(site, "ada", status="pending" if purpose == "confirm" else "active")
    query = f"?p={a_listed_paper(site)}&v=more" if purpose == "feedback" else ""
    now = datetime.now(timezone.utc)
    for moment in (now - timedelta(days=days), now + timedelta(days=2)):
        with time_machine.travel(moment, tick=False):
            old = path(purpose, row)
        with site.client() as client:
            assert client.get(old + query).status_code == 400
            assert client.post(old + query).status_code in (400, 403)
    assert subscriber_by_id(site.engine, row.id).status == row.status


def _variants(token: str) -> dict[str, str]:
    """Spellings of a good token that decode to the same bytes: base64 read leniently takes
    padding, the standard alphabet and the unused low bits of the last character."""
    signature = token.rsplit(".", 1)[1]
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = last[last.index(signature[-1]) ^ 1]  # signature: 20 bytes in 27 characters, 2 bits unused
    return {"padded": token + "=", "padded twice": token + "==",
            "standard alphabet": token.replace("-", "+").replace("_", "/") if "-" in token or "_" in token
            else token[:-1] + "+",
            "unused bits set": token[:-1] + sibling, "upper case": token.upper(), "trailing dot": token + ".",
            "leading space": " " + token}


@pytest.mark.parametrize("purpose", ["manage", "unsubscribe", "feedback", "confirm"])
def test_attack_only_the_exact_token_is_accepted_never_a_respelling(site, purpose):
    row = add(site, "ada", status="pending" if purpose == "confirm" else "active")
    query = f"?p={a_listed_paper(site)}&v=more" if purpose == "feedback" else ""
    good = path(purpose, row).rsplit("/", 1)[1]
    with site.client() as client:
        assert client.get(f"/{purpose}/{good}{query}").status_code == 200
        for name, variant in _variants(good).items():
            if variant == good or "/" in variant:  # "/" makes another path, not another token
                continue
            assert client.get(f"/{purpose}/{variant}{query}").status_code == 400, name
            assert client.post(f"/{purpose}/{variant}{query}").status_code in (400, 403), name
    assert subscriber_by_id(site.engine, row.id).status == row.status
    if purpose == "feedback":
        assert profiles.voted_by_id(site.engine, row.id) == []


def test_every_token_we_sign_is_spelled_exactly_as_the_web_app_requires():
    """The check above must never refuse a real link: bound, legacy id-only, with a payload
    (long enough to be compressed), under the current and a previous key."""
    rng = random.Random(7)
    for n in range(400):
        secret = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(rng.randint(8, 40)))
        purpose = rng.choice(sorted(PURPOSES))
        payload = None if n % 3 else {"p": rng.randint(1, 10**9), "words": ["x" * rng.randint(0, 90)] * 3}
        keys = (SECRET, "a-previous-key-0123456789abcdefghijklmn")[: 1 + n % 2]
        assert exact_token(sign_link(keys, purpose, rng.randint(1, 10**12), secret, payload)), n
        assert exact_token(make_token(keys, purpose, rng.randint(1, 10**6))), n


# ---- host header, redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["/manage/{token}/", "/feeds/papers.atom/", "/subscribe/", "/healthz/",
                                   "/unsubscribe/{token}/"])
def test_attack_no_redirect_follows_a_forged_host_header(site, where):
    row = add(site, "ada")
    target = where.format(token=path("manage" if "manage" in where else "unsubscribe", row).rsplit("/", 1)[1])
    status, headers, _ = raw_get(site, target, {"Host": "evil.example"})
    assert "evil.example" not in headers.get("location", ""), headers.get("location")
    assert status not in (301, 302, 303, 307, 308)


@pytest.mark.parametrize("where", ["//evil.example/", "/\\evil.example/", "/%2F%2Fevil.example", "/%5Cevil.example",
                                   "/..%2F..%2Fetc%2Fpasswd", "/static/..%2F..%2Fpyproject.toml",
                                   "/static/%2e%2e/%2e%2e/pyproject.toml", "/feeds/s/..%2F..%2Fpyproject.toml.atom"])
def test_attack_no_open_redirect_and_no_file_outside_the_routes(site, where):
    status, headers, body = raw_get(site, where)
    assert status == 404 and "location" not in headers
    assert "[project]" not in body and "root:" not in body


# ---- queries the ranker refuses only after normalising them ---------------------------------------------


def test_attack_a_query_whose_normal_form_is_over_the_limit_is_searched_and_keeps_the_connection(site):
    """960 characters as written, over 3,000 once normalised: the ranker refused the normal form
    (a 500 and a dropped connection); the limit is on what people write, so it is a search."""
    with site.client() as client:
        answer = client.get("/feeds/search.atom", params={"q": LONG_CANONICAL, "days": "7"})
        assert answer.status_code == 200 and "Traceback" not in answer.text
        assert feedparser.parse(answer.content).bozo == 0
        assert client.get("/feeds/search.rss", params={"q": LONG_CANONICAL}).status_code == 200  # memoised too
        too_long = client.get("/feeds/search.atom", params={"q": "pooling " * 130})
        assert too_long.status_code == 400 and "longer than 1000" in too_long.text
        assert client.get("/healthz").status_code == 200  # same keep-alive connection, still open


def test_attack_a_subscriber_cannot_break_their_own_manage_page_with_a_query(site):
    row = add(site, "ada")
    manage = path("manage", row)
    with site.client() as client:
        page = client.get(manage)
        form = {"csrf_token": csrf_of(page.text), "action": "save", "interests": LONG_CANONICAL, "timezone": "UTC",
                "send_hour": "7", "frequency": "daily", "weekday": "0", "max_papers": "10"}
        saved = client.post(manage, data=form)
        assert saved.status_code == 200 and "Your preferences are saved" in saved.text
        again = client.get(manage)
        assert again.status_code == 200 and "Unsubscribe" in again.text


# ---- what one subscriber can learn about another (fixed outside digest/web in 6d618a2) ----------------


def _private_library(site: Site, owner: str) -> int:
    """A paper only `owner`'s imported library holds (no listing carried it): its id."""
    bib = ("@article{mine, title={" + PRIVATE_TITLE + "}, author={Bob Private}, doi={" + PRIVATE_DOI + "}, "
           "year={2026}}\n").encode()
    plan = profiles.plan_library(site.engine, f"{owner}@example.org", bib, name="library.bib")
    [paper_id] = profiles.apply_library(site.engine, plan)
    return paper_id


def test_attack_a_feedback_link_does_not_show_another_subscribers_private_library(site):
    ada, _ = add(site, "ada"), add(site, "bob")
    secret = _private_library(site, "bob")
    feedback = path("feedback", ada) + f"?p={secret}&v=more"
    with site.client() as client:
        shown = client.get(feedback)
        voted = client.post(feedback)
        manage = client.get(path("manage", ada)).text
    assert PRIVATE_TITLE not in shown.text and PRIVATE_TITLE not in voted.text and PRIVATE_TITLE not in manage
    assert shown.status_code == 404 and profiles.voted_by_id(site.engine, ada.id) == []


def test_attack_pasting_ids_on_the_manage_page_does_not_probe_other_libraries(site):
    ada, _ = add(site, "ada"), add(site, "bob")
    _private_library(site, "bob")
    manage = path("manage", ada)
    with site.client() as client:
        page = client.get(manage)
        answer = client.post(manage, data={"csrf_token": csrf_of(page.text), "action": "like_ids", "ids": PRIVATE_DOI})
    assert "We have not seen" in answer.text and PRIVATE_TITLE not in answer.text
    assert profiles.voted_by_id(site.engine, ada.id) == []


def test_attack_rotating_links_stops_the_feed_url_a_forwarded_email_carried(site):
    row = add(site, "ada")
    feed = feed_url(site.base, row.feed_token).removeprefix(site.base)
    with site.client() as client:
        content = "".join(ElementTree.fromstring(client.get(feed).content).itertext())  # entries' HTML
        vote = re.search(r'(/feedback/[^"?&]+)\?p=(\d+)&amp;v=more', content)
        rotate_links(site.engine, row.email)
        deadline = time.monotonic() + 5  # the feed's state is reused for a second (feed_routes.PlanMemo)
        while (status := client.get(feed).status_code) == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 404, "the old feed URL still works after rotate-links"
        assert client.post(f"{vote.group(1)}?p={vote.group(2)}&v=more").status_code == 404
    assert profiles.voted_by_id(site.engine, row.id) == []


# ---- logs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/nope%0a2026-12-07%2010:00:00,000%20INFO%20digest.web:%20POST%20/manage/x%20200",
                                    "/manage/x%0d%0aforged", "/nope%e2%80%a8forged", "/nope%1b[2Jforged",
                                    "/nope%c2%85forged"])
def test_attack_a_request_path_cannot_forge_a_log_line(site, target, caplog):
    caplog.set_level(logging.INFO, logger="digest.web")
    status, _, _ = raw_get(site, target)
    assert status in (400, 404)
    deadline = time.monotonic() + 5
    while not [r for r in caplog.records if r.getMessage().startswith("GET ")]:
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.02)
    for record in caplog.records:
        text = logging.Formatter("%(message)s").format(record)
        assert not re.search("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]", text), text


# ---- CSRF -----------------------------------------------------------------------------------------------

SIGN_UP = {"email": "victim@example.org", "interests": "pooling", "timezone": "UTC", "send_hour": "7",
           "frequency": "daily", "weekday": "0"}


def test_attack_a_tossed_csrf_cookie_does_not_let_another_site_post_forms(site):
    """Cookie tossing: a sibling subdomain (or anyone who can set a cookie for the site) plants
    `digest_csrf=X`, having fetched a form token for X itself; the victim's browser then posts
    from that site with X and the token. Browsers say where a post comes from (Sec-Fetch-Site),
    and only same-origin form posts are taken."""
    planted = "t" * 43
    row = add(site, "ada")
    manage = path("manage", row)
    with site.client() as attacker:
        token = csrf_of(attacker.get("/", headers={"Cookie": f"digest_csrf={planted}"}).text)
    with site.client() as victim:
        for where in ("cross-site", "same-site"):
            headers = {"Cookie": f"digest_csrf={planted}", "Sec-Fetch-Site": where, "Origin": "https://evil.example"}
            assert victim.post("/subscribe", data={"csrf_token": token, **SIGN_UP}, headers=headers).status_code == 403
            assert victim.post(manage, data={"csrf_token": token, "action": "pause"}, headers=headers).status_code == 403
        assert subscriber_by_id(site.engine, row.id).status == "active"
        same = {"Cookie": f"digest_csrf={planted}", "Sec-Fetch-Site": "same-origin"}
        assert victim.post(manage, data={"csrf_token": token, "action": "pause"}, headers=same).status_code == 200
        assert victim.post("/subscribe", data={"csrf_token": token, **SIGN_UP}, headers=same).status_code == 200
        # Clients that send no Sec-Fetch-Site (older browsers, scripts) still need the token.
        assert victim.post("/subscribe", data=SIGN_UP, headers={"Cookie": f"digest_csrf={planted}"}).status_code == 403
    assert subscriber_by_id(site.engine, row.id).status == "paused"


@pytest.mark.parametrize("purpose", ["unsubscribe", "feedback", "confirm"])
def test_link_posts_need_no_cookie_and_work_from_a_mail_client(site, purpose):
    """RFC 8058 one-click unsubscribe, and the buttons of emailed links: the signed URL is the
    authorisation, so they work with no cookie and from outside a browser session."""
    row = add(site, "ada", status="pending" if purpose == "confirm" else "active")
    query = f"?p={a_listed_paper(site)}&v=more" if purpose == "feedback" else ""
    with site.client() as mail_client:
        answer = mail_client.post(path(purpose, row) + query, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert subscriber_by_id(site.engine, row.id).status == {"unsubscribe": "unsubscribed", "confirm": "active"}.get(
        purpose, "active")


# ---- what pages, feeds and probes give away -------------------------------------------------------------

NASTY = [("2612.00001", 'pooling <script>alert(1)</script> "q" </textarea><img src=x onerror=alert(2)>'),
         ("2612.00002", "pooling \\href{javascript:alert(3)}{click} $x<y$ \\url{javascript:alert(4)}")]


def _ingest_nasty(site: Site) -> list[int]:
    """Papers whose title, abstract and author carry markup; one also gets control characters
    (stored directly: an XML listing cannot carry them). Returns their ids."""
    items = "".join(
        f"<item><title>{escape(title)}</title><link>https://arxiv.org/abs/{arxiv}</link>"
        f"<description>arXiv:{arxiv}v1 Announce Type: new\nAbstract: Pooling. {escape(title)}</description>"
        f'<guid isPermaLink="false">oai:arXiv.org:{arxiv}v1</guid><category>cs.LG</category>'
        f"<dc:creator>Ada &lt;script&gt;alert(5)&lt;/script&gt;</dc:creator></item>" for arxiv, title in NASTY)
    feed = ('<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel><title>cs.LG updates on '
            f"arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link><description>x</description>{items}"
            "</channel></rss>")
    jobs.ingest_bytes(site.engine, feed.encode(), input="nasty.xml")
    ids = [p.id for p in find_papers(site.engine) if p.arxiv_id in dict(NASTY)]
    with site.engine.begin() as conn:
        conn.execute(update(papers).where(papers.c.arxiv_id == "2612.00002").values(
            abstract="pooling \x01\x08\x0b\x0c\x1b[31m\x7f\x85\x9f\ufffe end"))
    return ids


_MARKUP = re.compile(r"<script|<img|=\s*[\"']?javascript:", re.I)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def test_attack_markup_and_control_characters_in_papers_stay_text_in_pages_and_feeds(site):
    ids = _ingest_nasty(site)
    row = add(site, "ada", interests="pooling")
    with site.client() as client:
        pages = [client.get(path("manage", row)).text, client.get(f"/feeds/s/{row.feed_token}.atom").text]
        pages += [client.get(path("feedback", row) + f"?p={i}&v=more").text for i in ids]
        for page in pages:
            assert not _MARKUP.search(page) and not _CONTROLS.search(page)
        assert any("&lt;script&gt;" in page for page in pages[2:])  # shown, as text
        for fmt in ("atom", "rss"):
            for where in (f"/feeds/search.{fmt}?q=pooling", f"/feeds/papers.{fmt}", f"/feeds/s/{row.feed_token}.{fmt}"):
                body = client.get(where).content
                tree = ElementTree.fromstring(body)  # well-formed, whatever the papers hold
                assert not _CONTROLS.search(body.decode())
                titles = [t.text or "" for t in tree.iter() if t.tag.rsplit("}", 1)[-1] == "title"]
                assert any("alert(1)" in title for title in titles), where
                assert not any("<script" in title for title in titles if fmt == "rss"), where  # escaped twice


def test_attack_private_pages_are_never_stored_by_caches_and_always_carry_the_security_headers(site):
    row, pending = add(site, "ada"), add(site, "pat", status="pending")
    paper = a_listed_paper(site)
    with site.client() as client:
        answers = {name: client.get(where) for name, where in {
            "manage": path("manage", row), "unsubscribe": path("unsubscribe", row),
            "confirm": path("confirm", pending), "feedback": path("feedback", row) + f"?p={paper}&v=more",
            "bad link": "/manage/not-a-token.x.y", "subscribe": "/", "404": "/nope"}.items()}
        answers["feedback saved"] = client.post(path("feedback", row) + f"?p={paper}&v=less")
        answers["unsubscribed"] = client.post(path("unsubscribe", pending))
        for name, answer in answers.items():
            headers = answer.headers
            assert headers["cache-control"] == "no-store", name
            assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff"
            assert "script-src" not in headers["content-security-policy"]  # default-src 'self': no inline script
        feed = client.get(f"/feeds/s/{row.feed_token}.atom")
        again = client.get(f"/feeds/s/{row.feed_token}.atom", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
        for answer in (feed, again):
            assert answer.headers["cache-control"].startswith("private"), answer.headers["cache-control"]


def test_attack_metrics_and_health_tell_a_stranger_nothing(site):
    add(site, "ada"), add(site, "pat", status="pending")
    with site.client() as client:
        assert client.get("/metrics").status_code == 404  # off without DIGEST_METRICS_TOKEN
        assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
        health = client.get("/healthz")
        assert health.json() == {"status": "ok"} and health.headers["cache-control"] == "no-store"
        for probe in ("/docs", "/redoc", "/openapi.json", "/.env", "/static/", "/admin"):
            assert client.get(probe).status_code == 404, probe


def test_attack_huge_or_field_stuffed_forms_are_refused_quickly(site):
    with site.client() as client:
        page = client.get("/")
        token, cookie = csrf_of(page.text), page.cookies["digest_csrf"]
        bodies = {"urlencoded": ("&".join(["a="] * 21000) + f"&csrf_token={token}", "application/x-www-form-urlencoded"),
                  "multipart": ("".join(f'--B\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
                                        for i in range(1100)) + "--B--\r\n", "multipart/form-data; boundary=B"),
                  "over the cap": ("a=" + "x" * 70000, "application/x-www-form-urlencoded")}
        for name, (body, kind) in bodies.items():
            started = time.monotonic()
            answer = client.post("/subscribe", content=body.encode(),
                                 headers={"Content-Type": kind, "Cookie": f"digest_csrf={cookie}"})
            assert answer.status_code in (400, 403, 413) and time.monotonic() - started < 5, name
    assert subscriber_by_id(site.engine, 1) is None


# ---- input the database cannot store --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["interests", "email"])
@pytest.mark.parametrize("bad", ["%00", "%ED%A0%80", "%01%1b%7f", "%C0%80", "%EF%BF%BF"])
def test_attack_a_sign_up_with_nul_or_broken_unicode_does_not_stop_other_sign_ups(site, field, bad):
    """PostgreSQL refuses NUL in text: a queued sign-up holding one must be refused at the
    door, not fail the background task (and every sign-up queued behind it) forever."""
    with site.client() as client:
        page = client.get("/")
        fields = dict(SIGN_UP, csrf_token=csrf_of(page.text))
        body = "&".join(f"{name}={quote(value)}" for name, value in fields.items() if name != field)
        value = {"interests": f"pool{bad}ing", "email": f"x{bad}y%40example.org"}[field]
        answer = client.post("/subscribe", content=f"{body}&{field}={value}".encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Cookie": f"digest_csrf={page.cookies['digest_csrf']}"})
        assert answer.status_code in (200, 400)
        assert client.post("/subscribe", data={**SIGN_UP, "email": "next@example.org",
                                               "csrf_token": csrf_of(client.get("/").text)}).status_code == 200
        deadline = time.monotonic() + 20
        while not (added := [s for s in _all_subscribers(site) if s.email == "next@example.org"]):
            assert time.monotonic() < deadline, f"sign-ups stopped: {client.get('/healthz').text}"
            time.sleep(0.1)
        assert client.get("/healthz").status_code == 200
    assert added and not any("\x00" in (s.interests or "") + s.email for s in _all_subscribers(site))


def _all_subscribers(site: Site) -> list:
    return list_subscribers(site.engine)


def test_attack_nul_in_a_manage_form_feed_url_or_pasted_id_is_never_a_500(site):
    row = add(site, "ada")
    manage = path("manage", row)
    with site.client() as client:
        page = client.get(manage)
        cookie, token = page.cookies["digest_csrf"], csrf_of(page.text)
        form = "&".join(f"{name}={value}" for name, value in {
            "csrf_token": token, "timezone": "UTC", "send_hour": "7", "frequency": "daily", "weekday": "0",
            "max_papers": "10"}.items())
        for extra in ("action=save&interests=pool%00ing", "action=like_ids&ids=2607.01234%00", "action=unlike&paper=1%00"):
            answer = client.post(manage, content=f"{form}&{extra}".encode(), headers={
                "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"digest_csrf={cookie}"})
            assert answer.status_code in (200, 400), extra
        for where in ("/feeds/s/%00.atom", f"/feeds/s/{row.feed_token}%00.rss", "/feeds/search.atom?q=%00",
                      "/unsubscribe/%00", "/confirm/a%00.b.c"):
            assert client.get(where).status_code in (200, 400, 404), where  # a search for "\0" finds nothing
        assert client.get("/healthz").status_code == 200
    assert subscriber_by_id(site.engine, row.id).interests == "pooling"


# ---- work a stranger can make the server do -----------------------------------------------------------------


def test_attack_cycling_the_search_window_does_not_rebuild_an_index_per_request(site, monkeypatch):
    built = []

    def counted(papers):  # the real build, counted: only how often it runs is observed
        built.append(len(papers))
        return build_index(papers)

    monkeypatch.setattr("digest.jobs.feeds.build_index", counted)
    with site.client() as client:
        for days in range(1, 31):
            assert client.get("/feeds/search.atom", params={"q": f"pooling {days}", "days": str(days)}).status_code == 200
    assert len(built) <= 2, f"{len(built)} ranking indexes built for 30 anonymous requests"


def test_attack_sign_ups_from_many_ipv6_networks_of_one_site_are_limited_together(engine, database_url):
    """An IPv6 client is counted by its /64 (one host's usual share), but one site usually holds
    a /48 (65,536 /64s: a free tunnel broker hands one out), which made the sign-up limit, and
    the confirmation emails it guards, unlimited for anyone with IPv6. The /64s of one /48 now
    also share a wider allowance (five times the per-network one)."""
    with serving(engine, database_url, subscribe_rate_per_hour=2, trusted_proxies="127.0.0.1") as running:
        with running.client() as client:
            page = client.get("/")
            token, cookie = csrf_of(page.text), page.cookies["digest_csrf"]

            def sign_up(client_address: str, n: int) -> int:
                return client.post("/subscribe", data={**SIGN_UP, "email": f"v{n}@example.org", "csrf_token": token},
                                   headers={"X-Forwarded-For": client_address,
                                            "Cookie": f"digest_csrf={cookie}"}).status_code

            codes = [sign_up(f"2001:db8:1:{n:x}::1", n) for n in range(12)]  # one /48, twelve /64s
            assert codes == [200] * 10 + [429] * 2, codes
            assert [sign_up("2001:db8:1:0::2", 20), sign_up("2001:db8:1:0::3", 21)] == [429, 429]
            assert sign_up("2001:db8:2::1", 30) == 200  # another site
            assert [sign_up("192.0.2.1", 40), sign_up("192.0.2.2", 41)] == [200, 200]  # IPv4: per address
