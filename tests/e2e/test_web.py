"""The web app through HTTP (Starlette's TestClient over the real app, real database):
every page, every error path, feeds, health and metrics."""

from __future__ import annotations

import logging
import re
import warnings
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import feedparser
import pytest
import time_machine
from sqlalchemy import create_engine, select

from digest import jobs
from digest.config import Settings
from digest.jobs.signups import process_signups
from digest.ranking import build_index, rank
from digest.store.papers import list_papers
from digest.store.tables import deliveries, subscribers
from digest.subscribers import SubscriberSpec
from digest.tokens import sign_link
from digest.web import create_app

with warnings.catch_warnings():  # Starlette suggests httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECRET = "test-secret-key-for-the-web-tests"
BASE = "https://digest.example.org"
QUERY = '"token pooling" OR normalization'
SNAPSHOTS = ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt")
FORM = {"email": "ada@example.org", "interests": QUERY, "timezone": "Europe/Berlin", "send_hour": "8",
        "frequency": "daily", "weekday": "0"}


# ---- fixtures and helpers -----------------------------------------------------------------


def make_client(engine, database_url, *, feed_state_ttl: float = 0, **overrides) -> TestClient:
    """A client of a fresh app. Feed state is looked up on every request (ttl 0) so a test
    sees its own changes at once; test_feed_state_is_reused_for_a_second covers the default."""
    settings = Settings(database_url=database_url, secret_key=SECRET, base_url=BASE, **overrides)
    app = create_app(settings, engine, feed_state_ttl=feed_state_ttl)
    # https, so the Secure CSRF cookie is sent back like a browser on the real site would.
    return TestClient(app, base_url="https://testserver")


@pytest.fixture
def client(engine, database_url):
    with make_client(engine, database_url) as test_client:
        yield test_client


@pytest.fixture
def papers(engine, samples):
    for name in SNAPSHOTS:
        jobs.ingest_bytes(engine, (samples / "snapshots" / name).read_bytes(), input=name)
    with engine.connect() as conn:
        return list_papers(conn)


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def subscribe(client: TestClient, **fields: str):
    token = token_of(client.get("/").text)
    page = client.post("/subscribe", data={"csrf_token": token, **FORM, **fields})
    # The request only queues the sign-up; apply it now rather than wait for the app's task.
    process_signups(client.app.state.web.engine)
    return page


def rows(engine, table) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


def add(engine, email="ada@example.org", status="active", interests=QUERY):
    return jobs.add_subscriber(engine, SubscriberSpec(email=email, status=status, interests=interests))


def status_of(engine, subscriber_id: int) -> str:
    return next(row.status for row in rows(engine, subscribers) if row.id == subscriber_id)


def link(purpose: str, row, secret: str = SECRET) -> str:
    """A link as the emails carry it: the subscriber's id, bound to their link secret."""
    return f"/{purpose}/{sign_link(secret, purpose, row.id, row.link_secret)}"


# ---- subscribe ----------------------------------------------------------------------------


def test_subscribe_page_is_an_accessible_form_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    for name in ("email", "interests", "timezone", "send_hour", "weekday"):
        assert f'<label for="{name}"' in page.text and f'id="{name}"' in page.text
    assert "<main" in page.text and 'role="banner"' in page.text
    assert re.search(r'<option value="UTC"[^>]* selected>UTC</option>', page.text)
    assert '<option value="Europe/Berlin"' in page.text
    assert '<script src="/static/tz.js" defer></script>' in page.text and "<script>" not in page.text
    assert "phrases:" in page.text and "title:transformer" in page.text and "-medical" in page.text
    assert "digest_csrf=" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    headers = page.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    script = client.get("/static/tz.js")
    assert script.status_code == 200 and "Intl.DateTimeFormat" in script.text


def test_subscribe_creates_a_pending_subscriber_and_queues_one_confirmation(client, engine):
    page = subscribe(client)
    assert page.status_code == 200 and "Check your inbox" in page.text
    [row] = rows(engine, subscribers)
    assert (row.email, row.status, row.interests, row.timezone, row.send_hour) == (
        "ada@example.org", "pending", QUERY, "Europe/Berlin", 8)
    [delivery] = rows(engine, deliveries)
    assert (delivery.kind, delivery.status, delivery.subscriber_id) == ("confirm", "queued", row.id)


def test_weekly_subscription_keeps_its_day(client, engine):
    assert subscribe(client, frequency="weekly", weekday="4").status_code == 200
    [row] = rows(engine, subscribers)
    assert (row.frequency, row.weekday) == ("weekly", 4)


@pytest.mark.parametrize("fields,field,expected", [
    ({"email": "ada@"}, "email", "Enter a valid email address"),
    ({"email": ""}, "email", "Enter a valid email address"),
    ({"interests": 'pooling "unclosed'}, "interests", "At character 9"),
    ({"interests": "foo:bar"}, "interests", "unknown field"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown time zone"),
    ({"send_hour": "24"}, "send_hour", "Choose an hour from 0 to 23"),
    ({"send_hour": "seven"}, "send_hour", "Choose an hour from 0 to 23"),
    ({"frequency": "hourly"}, "frequency", "Choose daily or weekly"),
])
def test_bad_values_are_shown_next_to_their_field_and_nothing_is_stored(client, engine, fields, field, expected):
    page = subscribe(client, **fields)
    assert page.status_code == 400
    error = re.search(rf'<div class="error" id="{field}-error">(.*?)</div>', page.text, re.S)
    assert error and expected in error.group(1), page.text
    assert f'aria-invalid="true" aria-describedby="{field}-error' in page.text
    assert rows(engine, subscribers) == [] and rows(engine, deliveries) == []


def test_a_bad_query_shows_position_hint_and_the_users_values(client):
    page = subscribe(client, interests="pooling OR", email="bob@example.org", timezone="Asia/Tokyo")
    assert page.status_code == 400
    error = re.search(r'<div class="error" id="interests-error">(.*?)</div>', page.text, re.S).group(1)
    assert "At character" in error and "<mark>" in error and "Hint:" in error
    assert 'value="bob@example.org"' in page.text and ">pooling OR</textarea>" in page.text
    assert '<option value="Asia/Tokyo" selected>Tokyo (UTC+09:00)</option>' in page.text
    assert "data-detect" not in page.text  # the user's zone is kept, not re-detected


def test_user_input_is_escaped_when_shown_again(client):
    page = subscribe(client, email='"><script>alert(1)</script>', interests='"<img src=x onerror=alert(1)>')
    assert page.status_code == 400
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize("case", ["missing", "forged", "other-cookie", "no-cookie"])
def test_a_post_without_a_valid_csrf_token_is_refused_and_writes_nothing(client, engine, case):
    token = token_of(client.get("/").text)
    data = dict(FORM)
    if case == "forged":
        data["csrf_token"] = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif case != "missing":
        data["csrf_token"] = token
    if case in ("other-cookie", "no-cookie"):
        client.cookies.clear()
    if case == "other-cookie":  # a valid token, but signed for another browser's cookie
        client.cookies.set("digest_csrf", "x" * 43)
    page = client.post("/subscribe", data=data)
    assert page.status_code == 403 and "form has expired" in page.text
    assert rows(engine, subscribers) == [] and rows(engine, deliveries) == []


def test_the_rate_limit_per_address_answers_429_with_retry_after(engine, database_url):
    with make_client(engine, database_url, subscribe_rate_per_hour=2) as client:
        assert subscribe(client, email="a1@example.org").status_code == 200
        assert subscribe(client, email="a2@example.org").status_code == 200
        refused = subscribe(client, email="a3@example.org")
    assert refused.status_code == 429 and "Too many requests" in refused.text
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert len(rows(engine, subscribers)) == 2


@pytest.mark.parametrize("status", ["pending", "active", "paused", "unsubscribed", "bounced"])
def test_a_known_address_gets_the_very_same_page_as_a_new_one(client, engine, status):
    add(engine, "known@example.org", status=status)
    new = subscribe(client, email="new@example.org")
    known = subscribe(client, email="known@example.org")
    other_case = subscribe(client, email="KNOWN@Example.org")
    again = subscribe(client, email="new@example.org")  # new a moment ago, known now
    assert new.status_code == known.status_code == other_case.status_code == again.status_code == 200
    assert new.content == known.content == other_case.content == again.content  # byte for byte
    assert sorted(dict(known.headers)) == sorted(dict(new.headers))


def test_a_known_address_is_renewed_only_when_sane(client, engine):
    pending = add(engine, "pending@example.org", status="pending")
    gone = add(engine, "gone@example.org", status="unsubscribed")
    active = add(engine, "active@example.org", status="active", interests="old words")
    for email in ("pending@example.org", "gone@example.org", "active@example.org"):
        subscribe(client, email=email, interests="diffusion")
    confirmations = [d.subscriber_id for d in rows(engine, deliveries) if d.kind == "confirm"]
    # pending: its first confirmation is minutes old, so no second one yet (no mail flooding)
    assert confirmations.count(pending.id) == 1
    # unsubscribed: back to pending with the new keywords, and one fresh confirmation
    assert confirmations.count(gone.id) == 1 and status_of(engine, gone.id) == "pending"
    assert next(r.interests for r in rows(engine, subscribers) if r.id == gone.id) == "diffusion"
    # active: untouched
    assert active.id not in confirmations
    assert next(r.interests for r in rows(engine, subscribers) if r.id == active.id) == "old words"


# ---- confirm ------------------------------------------------------------------------------


def test_a_confirmation_link_shows_a_button_and_changes_nothing(client, engine):
    """Mail scanners prefetch links: only the button (a POST) confirms."""
    row = add(engine, status="pending")
    page = client.get(link("confirm", row))
    assert page.status_code == 200 and "Confirm my subscription" in page.text and 'method="post"' in page.text
    assert status_of(engine, row.id) == "pending"


def test_the_confirm_button_activates_and_links_to_manage(client, engine):
    row = add(engine, status="pending")
    page = client.post(link("confirm", row))
    assert page.status_code == 200 and "subscribed" in page.text
    assert status_of(engine, row.id) == "active"
    assert f'href="{BASE}/manage/' in page.text and f"{BASE}/feeds/s/{row.feed_token}.atom" in page.text
    assert client.post(link("confirm", row)).status_code == 200  # a second click is fine


@pytest.mark.parametrize("make", [
    lambda row: link("confirm", row)[:-3] + "xyz",
    lambda row: link("manage", row).replace("/manage/", "/confirm/"),
    lambda row: link("confirm", row, secret="another-secret-of-another-site"),
    lambda row: "/confirm/not-a-token",
])
def test_a_forged_confirmation_link_is_refused_and_changes_nothing(client, engine, make):
    row = add(engine, status="pending")
    for page in (client.get(make(row)), client.post(make(row))):
        assert page.status_code == 400 and "does not work" in page.text
    assert status_of(engine, row.id) == "pending"


def test_an_expired_confirmation_link_is_refused(client, engine):
    row = add(engine, status="pending")
    with time_machine.travel(datetime.now(timezone.utc) - timedelta(days=4), tick=False):
        old = link("confirm", row)
    page = client.post(old)
    assert page.status_code == 400 and "expired" in page.text
    assert status_of(engine, row.id) == "pending"


def test_confirming_after_unsubscribing_does_not_resubscribe(client, engine):
    row = add(engine, status="unsubscribed")
    assert client.post(link("confirm", row)).status_code == 400
    assert status_of(engine, row.id) == "unsubscribed"


# ---- manage -------------------------------------------------------------------------------


def manage_post(client: TestClient, path: str, **fields: str):
    token = token_of(client.get(path).text)
    return client.post(path, data={"csrf_token": token, **fields})


def test_manage_shows_preferences_and_a_preview_of_the_last_7_days(client, engine, papers):
    row = add(engine, interests=QUERY)
    page = client.get(link("manage", row))
    assert page.status_code == 200 and "ada@example.org" in page.text
    assert f">{QUERY}</textarea>".replace('"', "&#34;") in page.text
    expected = [item.paper.title for item in rank(build_index(papers), QUERY, limit=10)]
    preview = page.text[page.text.index('id="preview-title"'):]
    positions = [preview.find(f">{title}</a>") for title in expected]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), expected
    assert "<b>" in preview  # the matched words, as the ranker marked them
    assert f"{BASE}/feeds/s/{row.feed_token}.atom" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"


def test_manage_saves_valid_changes_and_shows_a_notice(client, engine, papers):
    row = add(engine)
    path = link("manage", row)
    page = manage_post(client, path, action="save", interests="title:diffusion", timezone="Asia/Tokyo",
                       send_hour="21", frequency="weekly", weekday="6", max_papers="5")
    assert page.status_code == 200 and "preferences are saved" in page.text
    [saved] = rows(engine, subscribers)
    assert (saved.interests, saved.timezone, saved.send_hour, saved.frequency, saved.weekday, saved.max_papers) == (
        "title:diffusion", "Asia/Tokyo", 21, "weekly", 6, 5)
    assert "Diffusion" in page.text[page.text.index('id="preview-title"'):]  # preview of the new keywords


def test_manage_shows_errors_inline_and_changes_nothing(client, engine):
    row = add(engine)
    page = manage_post(client, link("manage", row), action="save", interests="pooling AND", timezone="UTC",
                       send_hour="7", frequency="daily", weekday="0", max_papers="0")
    assert page.status_code == 400
    assert 'id="interests-error"' in page.text and 'id="max_papers-error"' in page.text
    assert ">pooling AND</textarea>" in page.text
    [same] = rows(engine, subscribers)
    assert (same.interests, same.max_papers) == (QUERY, 10)


def test_manage_buttons_pause_resume_and_unsubscribe(client, engine):
    row = add(engine)
    path = link("manage", row)
    assert "paused" in manage_post(client, path, action="pause").text
    assert status_of(engine, row.id) == "paused"
    assert manage_post(client, path, action="resume").status_code == 200
    assert status_of(engine, row.id) == "active"
    page = manage_post(client, path, action="unsubscribe")
    assert page.status_code == 200 and "unsubscribed" in page.text
    assert status_of(engine, row.id) == "unsubscribed"
    assert "Resubscribe" in client.get(path).text


def test_an_expired_manage_link_says_how_to_get_a_new_one_and_a_paused_subscriber_can_come_back(client, engine):
    row = add(engine)
    with time_machine.travel(datetime.now(timezone.utc) - timedelta(days=61), tick=False):
        old = link("manage", row)
    jobs.change_status(engine, row.email, jobs.Action.PAUSE)
    page = client.get(old)
    assert page.status_code == 400 and "expired" in page.text and "60 days" in page.text and "Sign up again" in page.text
    assert manage_post(client, link("manage", row), action="pause").status_code == 200  # a fresh link works
    subscribe(client, email=row.email)  # paused, no digests, old links expired: the sign-up form brings them back
    [confirmation] = [d for d in rows(engine, deliveries) if d.kind == "confirm"]
    assert confirmation.subscriber_id == row.id and status_of(engine, row.id) == "paused"
    assert client.post(link("confirm", row)).status_code == 200 and status_of(engine, row.id) == "active"


def test_resuming_after_unsubscribing_or_bouncing_needs_a_new_confirmation(client, engine):
    for status in ("unsubscribed", "bounced"):
        row = add(engine, f"{status}@example.org", status=status)
        assert "Resubscribe" in client.get(link("manage", row)).text
        page = manage_post(client, link("manage", row), action="resume")
        assert page.status_code == 200 and "emailed you a confirmation link" in page.text
        assert status_of(engine, row.id) == "pending"
        assert [d.kind for d in rows(engine, deliveries) if d.subscriber_id == row.id] == ["confirm"]


def test_manage_refuses_forged_links_missing_csrf_and_removed_subscribers(client, engine):
    row = add(engine)
    good = link("manage", row)
    forged = good[:-2] + ("xx" if not good.endswith("xx") else "yy")
    assert client.get(forged).status_code == 400
    assert client.get(link("unsubscribe", row).replace("/unsubscribe/", "/manage/")).status_code == 400
    token = token_of(client.get(good).text)
    assert client.post(forged, data={"csrf_token": token, "action": "pause"}).status_code == 400
    assert client.post(good, data={"action": "pause"}).status_code == 403
    assert client.post(good, data={"csrf_token": token, "action": "launch"}).status_code == 400
    assert status_of(engine, row.id) == "active"
    jobs.remove_subscriber(engine, row.email)
    assert client.get(good).status_code == 404


# ---- unsubscribe --------------------------------------------------------------------------


def test_unsubscribe_get_only_shows_a_button(client, engine):
    row = add(engine)
    page = client.get(link("unsubscribe", row))
    assert page.status_code == 200
    assert 'method="post"' in page.text and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert status_of(engine, row.id) == "active"


def test_one_click_unsubscribe_works_without_cookies_csrf_or_redirect(engine, database_url):
    row = add(engine)
    with make_client(engine, database_url) as mail_client:  # a mail provider: no session at all
        answer = mail_client.post(link("unsubscribe", row), content=b"List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  follow_redirects=False)
        assert answer.status_code == 200 and "location" not in answer.headers
        assert "set-cookie" not in answer.headers and "unsubscribed" in answer.text
        assert status_of(engine, row.id) == "unsubscribed"
        again = mail_client.post(link("unsubscribe", row), data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200 and status_of(engine, row.id) == "unsubscribed"


def test_a_forged_unsubscribe_link_is_refused_and_changes_nothing(client, engine):
    row = add(engine)
    good = link("unsubscribe", row)
    for bad in (good[:-3] + "abc", link("manage", row).replace("/manage/", "/unsubscribe/"), "/unsubscribe/x"):
        assert client.get(bad).status_code == 400
        assert client.post(bad, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert status_of(engine, row.id) == "active"


# ---- feeds --------------------------------------------------------------------------------


def parse(response):
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def assert_conditional_gets_work(client: TestClient, path: str):
    first = client.get(path)
    # A personal feed's URL is its secret: no shared cache may keep it.
    scope = "private" if path.startswith("/feeds/s/") else "public"
    assert first.status_code == 200 and first.headers["cache-control"] == f"{scope}, max-age=300"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    same = client.get(path, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
    earlier = format_datetime(datetime(2000, 1, 1, tzinfo=timezone.utc), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
    return first


@pytest.mark.parametrize("fmt,media", [("rss", "application/rss+xml"), ("atom", "application/atom+xml")])
def test_the_papers_feed_lists_the_newest_50_papers(client, papers, fmt, media):
    response = assert_conditional_gets_work(client, f"/feeds/papers.{fmt}")
    assert response.headers["content-type"].startswith(media)
    feed = parse(response)
    newest = sorted(papers, key=lambda p: p.id, reverse=True)[:50]
    assert [entry.title for entry in feed.entries] == [" ".join(p.title.split()) for p in newest]
    assert [entry.id for entry in feed.entries][:1] == [newest[0].key if fmt == "rss" else feed.entries[0].id]
    assert any(link.rel == "self" and link.href == f"{BASE}/feeds/papers.{fmt}" for link in feed.feed.links)


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_subscriber_feed_is_their_ranking_of_the_last_7_days(client, engine, papers, fmt):
    row = add(engine, interests=QUERY)
    feed = parse(assert_conditional_gets_work(client, f"/feeds/s/{row.feed_token}.{fmt}"))
    expected = [" ".join(item.paper.title.split()) for item in rank(build_index(papers), QUERY, limit=50)]
    assert [entry.title for entry in feed.entries] == expected[:len(feed.entries)] and len(feed.entries) > 3
    assert client.get(f"/feeds/s/no-such-token.{fmt}").status_code == 404
    assert client.get(f"/feeds/s/{row.feed_token}.json").status_code == 404


def test_a_subscriber_feed_changes_when_their_keywords_do(client, engine, papers):
    row = add(engine, interests=QUERY)
    path = f"/feeds/s/{row.feed_token}.atom"
    before = client.get(path)
    jobs.update_subscriber(engine, row.email, {"interests": "title:diffusion"})
    after = client.get(path, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and "Diffusion" in parse(after).entries[0].title
    jobs.set_status(engine, row.email, "unsubscribed")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_the_search_feed_ranks_a_query_and_refuses_a_bad_one(client, papers, fmt):
    feed = parse(assert_conditional_gets_work(client, f"/feeds/search.{fmt}?q=title%3Adiffusion&days=7"))
    expected = [" ".join(i.paper.title.split()) for i in rank(build_index(papers), "title:diffusion", limit=50)]
    assert [entry.title for entry in feed.entries] == expected
    bad = client.get(f"/feeds/search.{fmt}", params={"q": 'pooling "unclosed'})
    assert bad.status_code == 400 and "position 8" in bad.text
    assert client.get(f"/feeds/search.{fmt}", params={"q": "x", "days": "week"}).status_code == 400


def test_the_papers_feed_follows_a_new_ingest(client, engine, samples, papers):
    before = client.get("/feeds/papers.atom")
    feed_path = samples / "feeds" / "arxiv-rss-cs-ai.xml"
    jobs.ingest_bytes(engine, feed_path.read_bytes(), input=feed_path.name)
    after = client.get("/feeds/papers.atom", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]


def test_feed_state_is_reused_for_a_second_then_looked_up_again(engine, database_url, samples, papers):
    with make_client(engine, database_url, feed_state_ttl=1.0) as client:
        now = [100.0]
        client.app.state.feed_memo.clock = lambda: now[0]
        row = add(engine, interests=QUERY)
        before = {path: client.get(path).headers["etag"] for path in ("/feeds/papers.atom", f"/feeds/s/{row.feed_token}.atom")}
        assert client.get("/feeds/s/unknown.atom").status_code == 404
        feed_path = samples / "feeds" / "arxiv-rss-cs-ai.xml"
        jobs.ingest_bytes(engine, feed_path.read_bytes(), input=feed_path.name)
        jobs.update_subscriber(engine, row.email, {"interests": "title:diffusion"})
        now[0] += 0.5  # within the second: the remembered state answers, from memory
        assert {path: client.get(path).headers["etag"] for path in before} == before
        now[0] += 0.6  # past it: looked up again, and the feeds have changed
        assert all(client.get(path).headers["etag"] != etag for path, etag in before.items())


# ---- health, metrics, logs ----------------------------------------------------------------


METRICS_TOKEN = "metrics-token-for-the-web-tests-0123456789"


def test_healthz_and_metrics(engine, database_url, papers):
    add(engine, "a@example.org", status="pending")
    add(engine, "b@example.org", status="active")
    with make_client(engine, database_url, metrics_token=METRICS_TOKEN) as client:
        health = client.get("/healthz")
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert f"digest_papers_total {len(papers)}" in text
    assert 'digest_subscribers{status="pending"} 1' in text and 'digest_subscribers{status="active"} 1' in text
    assert 'digest_deliveries{status="queued"} 1' in text
    assert "digest_digests_sent_total 0" in text and "digest_digests_failed_total 0" in text
    assert "# TYPE digest_send_latency_seconds summary" in text and "digest_send_latency_seconds_count 0" in text


def test_healthz_says_503_when_the_database_is_gone(tmp_path):
    settings = Settings(database_url="sqlite:///unused.db", secret_key=SECRET, base_url=BASE)
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with TestClient(create_app(settings, broken)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json() == {"status": "unavailable", "failing": ["database"]}


def test_access_log_has_one_line_per_request_without_tokens(client, engine, caplog):
    row = add(engine)
    manage = link("manage", row)
    with caplog.at_level(logging.INFO, logger="digest.web"):
        client.get(manage)
        client.get(f"/feeds/s/{row.feed_token}.atom")
        client.get("/no/such/page")
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.web"]
    assert re.fullmatch(r"GET /manage/<token> 200 \d+\.\dms", lines[0]), lines
    assert lines[1].startswith("GET /feeds/s/<token>.atom 200") and lines[2].startswith("GET /no/such/page 404")
    assert not any(manage.split("/")[-1] in line or row.feed_token in line for line in lines)


def test_an_http_base_url_warns_once_at_startup(engine, database_url, caplog):
    settings = Settings(database_url=database_url, secret_key=SECRET, base_url="http://localhost:8000")
    with caplog.at_level(logging.WARNING, logger="digest.web"):
        app = create_app(settings, engine)
        with TestClient(app) as plain:
            plain.get("/")
            plain.get("/healthz")
    warned = [r for r in caplog.records if "base URL is http://" in r.getMessage()]
    assert len(warned) == 1 and "use https in production" in warned[0].getMessage()


def test_unknown_pages_get_an_html_404_and_feeds_a_plain_one(client):
    page = client.get("/nope")
    assert page.status_code == 404 and "Page not found" in page.text and "text/html" in page.headers["content-type"]
    feed = client.get("/feeds/nope.atom")
    assert feed.status_code == 404 and feed.headers["content-type"].startswith("text/plain")


# ---- `digest feed` (the command function; the lead registers it on the real app) ----------


@pytest.fixture
def feed_cli(database_url, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from digest.cli.feed import feed

    monkeypatch.setenv("DIGEST_DATABASE_URL", database_url)
    monkeypatch.setenv("DIGEST_BASE_URL", BASE)
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    app = typer.Typer()
    app.command()(feed)
    app.callback()(lambda: None)
    return lambda *args: CliRunner().invoke(app, ["feed", *args])


def test_the_feed_command_prints_the_same_feed_the_web_serves(feed_cli, client, engine, papers):
    row = add(engine, interests=QUERY)
    for args, path in [((), "/feeds/papers.atom"), (("--format", "rss"), "/feeds/papers.rss"),
                       (("--subscriber", "ADA@example.org"), f"/feeds/s/{row.feed_token}.atom"),
                       (("--query", "title:diffusion", "--days", "7", "--format", "rss"),
                        "/feeds/search.rss?q=title%3Adiffusion&days=7")]:
        ran = feed_cli(*args)
        assert ran.exit_code == 0, ran.output
        # Feedback links are signed at build time (a timestamp): the same link, another signature.
        same = [re.sub(rb"/feedback/[A-Za-z0-9_.-]+", b"/feedback/T", body)
                for body in (ran.stdout_bytes.rstrip(b"\n"), client.get(path).content)]
        assert same[0] == same[1], args
    assert b"/feedback/" in client.get(f"/feeds/s/{row.feed_token}.atom").content


def test_the_feed_command_reports_bad_input_in_one_line(feed_cli, engine, papers):
    unknown = feed_cli("--subscriber", "nobody@example.org")
    assert unknown.exit_code == 1 and "no subscriber" in unknown.stderr
    bad = feed_cli("--query", "pooling OR")
    assert bad.exit_code == 1 and "bad query at position" in bad.stderr
    assert feed_cli("--format", "json").exit_code != 0
    assert feed_cli("--help").exit_code == 0 and "Example:" in feed_cli("--help").stdout


def test_an_unexpected_error_is_a_500_page_with_the_security_headers(engine, database_url, monkeypatch, caplog):
    row = add(engine)
    monkeypatch.setattr("digest.web.context.subscriber_for_link", lambda *_: 1 / 0)
    settings = Settings(database_url=database_url, secret_key=SECRET, base_url=BASE)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        page = client.get(link("manage", row))
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert any("GET /manage/<token>" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
