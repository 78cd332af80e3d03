"""Relevance end to end: likes through the CLI, a digest sent over real SMTP, feedback over HTTP.

Listings: tests/data/profile/ (real arXiv records). The subscriber's query
`"token pooling" OR normalization` matches papers about normalization, false friends for a
researcher whose likes are all about visual token pruning; the likes must rank a new token
pruning paper above them, say why, and carry "more / less like this" links that work.
"""

from __future__ import annotations

import email
import email.policy
import re
import warnings

import pytest
from sqlalchemy import select

from digest.config import Settings
from digest.store.db import open_engine
from digest.store.tables import paper_votes, papers, subscribers
from digest.web import create_app

with warnings.catch_warnings():  # Starlette suggests httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.slow

QUERY = '"token pooling" OR normalization'
LIKED = ["2607.07033", "2607.12756", "2607.13500", "2607.16326", "2607.04593"]
TARGETS = {"2607.23445", "2607.27700"}  # token pruning / reduction papers in the later listing
FALSE_FRIENDS = {"2607.22923", "2607.21005", "2607.17822", "2607.15449"}  # "normalization"
SECRET = "test-secret-key-for-signing-links"


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.data, policy=email.policy.default)


@pytest.fixture
def stocked(cli, data_dir, mail_env):
    assert cli("ingest", str(data_dir / "profile" / "arxiv-rss-earlier.xml")).exit_code == 0
    assert cli("subscribers", "add", "ada@example.org", "--keywords", QUERY, "--confirmed").exit_code == 0
    liked = cli("subscribers", "like", "ada@example.org", *LIKED)
    assert liked.exit_code == 0, liked.stderr
    assert cli("ingest", str(data_dir / "profile" / "arxiv-rss-later.xml")).exit_code == 0
    return cli


def arxiv_ids_in_order(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"arxiv\.org/abs/(\d{4}\.\d{5})", text)))


def test_keyword_alone_ranks_the_false_friends_first(stocked):
    """The baseline the likes fix: the query by itself prefers the normalization papers."""
    ranked = stocked("rank", "--query", QUERY, "--json").json()
    assert {p["arxiv_id"] for p in ranked[:4]} <= FALSE_FRIENDS
    assert not TARGETS & {p["arxiv_id"] for p in ranked}


def test_likes_rank_a_similar_paper_above_keyword_false_friends_and_say_why(stocked, database_url, mail_env):
    ran = stocked("run", "--now", "--json")
    assert ran.exit_code == 0, ran.stderr
    [message] = [parsed(m) for m in mail_env.handler.messages]
    text = message.get_body(("plain",)).get_content()
    order = arxiv_ids_in_order(text)
    best_target = min(order.index(pid) for pid in TARGETS if pid in order)
    friends = [order.index(pid) for pid in FALSE_FRIENDS if pid in order]
    assert best_target < min(friends, default=len(order)), order
    assert not set(LIKED) & set(order)  # a paper already judged is not offered again
    liked_titles = [p["title"] for p in stocked("subscribers", "likes", "ada@example.org", "--json").json()]
    why = [line for line in text.splitlines() if "Why you got this" in line and "like \u201c" in line]
    assert why and any(title in line for line in why for title in liked_titles), why
    html = message.get_body(("html",)).get_content()
    assert "More like this" in html and "Less like this" in html and "like \u201c" in html


def feedback_links(message: email.message.EmailMessage) -> list[str]:
    text = message.get_body(("plain",)).get_content()
    return re.findall(r"(?:More|Less) like this: (https://\S+)", text)


def votes(database_url) -> set[tuple[str, int]]:
    engine = open_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(papers.c.arxiv_id, paper_votes.c.vote).join(
            papers, papers.c.id == paper_votes.c.paper_id)).all()
    engine.dispose()
    return {(r.arxiv_id, r.vote) for r in rows}


@pytest.fixture
def client(database_url):
    settings = Settings(database_url=database_url, secret_key=SECRET, base_url="https://digest.example.org")
    with TestClient(create_app(settings), base_url="https://digest.example.org") as test_client:
        yield test_client


def test_feedback_links_show_a_button_on_get_and_record_on_post(stocked, database_url, mail_env, client):
    stocked("run", "--now")
    [message] = [parsed(m) for m in mail_env.handler.messages]
    links = feedback_links(message)
    assert len(links) >= 2 * 5 and all("/feedback/" in link for link in links)
    less = next(link for link in links if link.endswith("v=less"))
    paper_id = int(re.search(r"p=(\d+)", less).group(1))
    before = votes(database_url)

    shown = client.get(less.removeprefix("https://digest.example.org"))
    assert shown.status_code == 200 and "<form" in shown.text and "less like this" in shown.text.lower()
    assert votes(database_url) == before  # a GET (a link scanner) changes nothing

    posted = client.post(less.removeprefix("https://digest.example.org"))
    assert posted.status_code == 200 and "less like this" in posted.text.lower()
    engine = open_engine(database_url)
    with engine.connect() as conn:
        arxiv_id = conn.execute(select(papers.c.arxiv_id).where(papers.c.id == paper_id)).scalar_one()
    engine.dispose()
    assert votes(database_url) == before | {(arxiv_id, -1)}
    again = client.post(less.removeprefix("https://digest.example.org"))
    assert again.status_code == 200 and "already" in again.text and votes(database_url) == before | {(arxiv_id, -1)}


def test_forged_or_foreign_feedback_links_are_refused_and_change_nothing(stocked, database_url, mail_env, client):
    stocked("subscribers", "add", "eve@example.org", "--confirmed")
    stocked("run", "--now")
    [message] = [parsed(m) for m in mail_env.handler.messages if m.rcpt_tos == ["ada@example.org"]]
    link = feedback_links(message)[0].removeprefix("https://digest.example.org")
    before = votes(database_url)
    path, _, query = link.partition("?")
    token = path.rsplit("/", 1)[1]
    forged = f"/feedback/{token[:-3]}{'AAA' if not token.endswith('AAA') else 'BBB'}?{query}"
    assert client.post(forged).status_code == 400
    assert client.get(forged).status_code == 400
    assert client.post(f"{path}?p=abc&v=more").status_code == 400
    assert client.post(f"{path}?p=999999&v=more").status_code == 404
    # Ada's token with Eve's id does not make a vote for Eve: the signature covers the id.
    engine = open_engine(database_url)
    with engine.connect() as conn:
        eve = conn.execute(select(subscribers.c.id).where(subscribers.c.email == "eve@example.org")).scalar_one()
    engine.dispose()
    assert eve and client.post(f"/feedback/{eve}.{token}?{query}").status_code == 400
    assert votes(database_url) == before


def test_rank_with_likes_on_one_snapshot_says_which_liked_paper_each_pick_resembles(cli, data_dir):
    earlier = cli("ingest", str(data_dir / "profile" / "arxiv-rss-earlier.xml"), "--json").json()
    later = cli("ingest", str(data_dir / "profile" / "arxiv-rss-later.xml"), "--json").json()
    args = ["rank", "--query", QUERY, "--snapshot", str(later["snapshot_id"]), "--limit", "5", "--json"]
    for pid in LIKED:
        args += ["--like", pid]
    ranked = cli(*args)
    assert ranked.exit_code == 0, ranked.stderr
    items = ranked.json()
    assert {"key", "title", "score", "matched", "snippet", "arxiv_id", "because"} <= set(items[0])
    assert items[0]["arxiv_id"] in TARGETS and items[0]["because"]
    assert all(item["arxiv_id"] not in LIKED for item in items)  # only the later snapshot's papers
    liked_titles = {p["title"] for p in cli("papers", "list", "--json").json() if p["arxiv_id"] in LIKED}
    assert items[0]["because"] in liked_titles
    friend = next((i for i in items if i["arxiv_id"] in FALSE_FRIENDS), None)
    assert friend is None or (friend["because"] is None and friend["matched"] == ["normalization"])
    assert earlier["snapshot_id"] != later["snapshot_id"]


def test_rank_refuses_unknown_papers_and_snapshots_in_one_line(cli, data_dir):
    cli("ingest", str(data_dir / "profile" / "arxiv-rss-earlier.xml"))
    for args, needle in ((["--like", "2999.99999"], "'2999.99999'"), (["--snapshot", "999"], "no snapshot 999")):
        ran = cli("rank", *args)
        assert ran.exit_code == 1 and needle in ran.stderr and len(ran.stderr.strip().splitlines()) == 1


def test_preview_json_has_the_same_fields_with_the_reason(stocked):
    items = stocked("preview", "ada@example.org", "--json").json()
    assert items and {"arxiv_id", "because", "matched", "snippet", "score", "key", "title"} <= set(items[0])
    assert any(item["because"] for item in items)


def manage_link(database_url) -> str:
    from digest.tokens import sign_link

    engine = open_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(select(subscribers).where(subscribers.c.email == "ada@example.org")).one()
    engine.dispose()
    return f"/manage/{sign_link(SECRET, 'manage', row.id, row.link_secret)}"


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_manage_page_lists_likes_removes_one_and_likes_pasted_ids(stocked, database_url, client):
    path = manage_link(database_url)
    page = client.get(path)
    assert page.status_code == 200 and "Papers you like" in page.text
    liked = {pid: int(re.search(rf'name="paper" value="(\d+)">\s*<a href="https://arxiv.org/abs/{pid}"',
                                 page.text).group(1)) for pid in LIKED}
    removed = client.post(path, data={"csrf_token": csrf_of(page.text), "action": "unlike",
                                      "paper": str(liked[LIKED[0]])})
    assert removed.status_code == 200 and "Removed" in removed.text
    assert (LIKED[0], 1) not in votes(database_url) and (LIKED[1], 1) in votes(database_url)

    before = votes(database_url)
    bad = client.post(path, data={"csrf_token": csrf_of(removed.text), "action": "like_ids",
                                  "ids": "2607.23445 2999.99999"})
    assert bad.status_code == 400 and "2999.99999" in bad.text and votes(database_url) == before
    good = client.post(path, data={"csrf_token": csrf_of(bad.text), "action": "like_ids",
                                   "ids": "https://arxiv.org/abs/2607.23445v2,\n2607.27700"})
    assert good.status_code == 200 and "Liked 2 papers" in good.text
    assert {("2607.23445", 1), ("2607.27700", 1)} <= votes(database_url)
    assert client.post(path, data={"action": "like_ids", "ids": "2607.22923"}).status_code == 403  # no CSRF token
    assert ("2607.22923", 1) not in votes(database_url)


def test_the_private_feed_is_ranked_by_the_likes_and_carries_feedback_links(stocked, database_url, client):
    import html

    engine = open_engine(database_url)
    with engine.connect() as conn:
        token = conn.execute(select(subscribers.c.feed_token)).scalar_one()
    engine.dispose()
    feed = client.get(f"/feeds/s/{token}.atom")
    assert feed.status_code == 200 and feed.headers["cache-control"].startswith("private")
    body = html.unescape(html.unescape(feed.text))
    order = arxiv_ids_in_order(body)
    assert min(order.index(pid) for pid in TARGETS) < min(order.index(pid) for pid in FALSE_FRIENDS if pid in order)
    assert "like \u201c" in body and "/feedback/" in body and "v=more" in body
    link = re.search(r'href="https://digest\.example\.org(/feedback/[^"]+v=more)"', body).group(1)
    assert client.get(link).status_code == 200  # the feed's link works like the email's
