"""Plan and send through a real aiosmtpd server on 127.0.0.1, via the real command."""

from __future__ import annotations

import email
import email.policy

from sqlalchemy import select

from digest.store.db import open_engine
from digest.store.tables import deliveries, subscribers

QUERIES = {
    "ada@example.org": '"token pooling" OR normalization -medical',
    "bob@example.org": "pruning, data filtering",
    "cyd@example.org": "title:diffusion",
}


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.data, policy=email.policy.default)


def setup_people(cli, samples):
    for name in ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt"):
        assert cli("ingest", str(samples / "snapshots" / name)).exit_code == 0
    for address, query in QUERIES.items():
        assert cli("subscribers", "add", address, "--keywords", query, "--confirmed", "--max-papers", "5").exit_code == 0


def test_three_subscribers_each_get_one_digest_with_their_papers(cli, samples, mail_env):
    setup_people(cli, samples)
    ran = cli("run", "--now", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["sent"] == 3 and ran.json()["planned"] == 3
    received = {m.rcpt_tos[0]: parsed(m) for m in mail_env.handler.messages}
    assert sorted(received) == sorted(QUERIES)
    for address, query in QUERIES.items():
        expected = [p["title"] for p in cli("rank", "--query", query, "--limit", "5", "--json").json()]
        text = received[address].get_body(("plain",)).get_content()
        positions = [text.find(title) for title in expected]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), (address, expected)
    again = cli("run", "--now", "--json").json()
    assert again["planned"] == 0 and again["sent"] == 0
    assert len(mail_env.handler.messages) == 3


def test_message_parts_and_unsubscribe_headers(cli, samples, mail_env):
    setup_people(cli, samples)
    cli("run", "--now", "--only", "ada@example.org")
    [message] = [parsed(m) for m in mail_env.handler.messages]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip()
    html = message.get_body(("html",)).get_content()
    assert "<b>" in html and "<script" not in html.lower()
    unsubscribe = str(message["List-Unsubscribe"])
    assert "<https://digest.example.org/unsubscribe/" in unsubscribe and "<mailto:digest@example.org" in unsubscribe
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert message["List-Id"] and message["Message-ID"] and message["Date"]
    assert message["Auto-Submitted"] is None
    assert "https://digest.example.org/manage/" in html and "/feeds/s/" in html


def test_sent_digest_advances_the_cursor_so_the_next_one_has_only_new_papers(cli, samples, mail_env, database_url):
    setup_people(cli, samples)
    cli("run", "--now")
    engine = open_engine(database_url)
    with engine.connect() as conn:
        cursors = {row.email: row.cursor for row in conn.execute(select(subscribers))}
        statuses = [row.status for row in conn.execute(select(deliveries).where(deliveries.c.kind == "digest"))]
    engine.dispose()
    assert all(cursor > 0 for cursor in cursors.values())
    assert statuses == ["sent"] * 3
    preview = cli("preview", "ada@example.org", "--json")
    assert preview.exit_code == 0 and preview.json() == []


def test_pending_subscriber_gets_a_confirmation_email_with_a_signed_link(cli, mail_env):
    cli("subscribers", "add", "new@example.org", "--keywords", "pooling")
    report = cli("run", "--json").json()
    assert report["sent"] == 1
    [message] = [parsed(m) for m in mail_env.handler.messages]
    body = message.get_body(("plain",)).get_content()
    assert "https://digest.example.org/confirm/" in body
    assert message["List-Unsubscribe"] is None


def test_script_title_and_header_injection_in_a_name_produce_neither(cli, samples, mail_env, tmp_path):
    listing = (samples / "snapshots" / "hf-listing-plain.txt").read_text()
    evil = listing.replace("Evolving Normalization-Activation Layers", "<script>alert(1)</script> Normalization")
    path = tmp_path / "evil.txt"
    path.write_text(evil)
    assert cli("ingest", str(path)).exit_code == 0
    cli("subscribers", "add", "eve@example.org", "--name", "Eve\r\nBcc: x@y", "--keywords", "normalization", "--confirmed")
    assert cli("run", "--now").exit_code == 0
    [received] = mail_env.handler.messages
    assert received.rcpt_tos == ["eve@example.org"]
    message = parsed(received)
    assert message["Bcc"] is None
    assert b"\r\nBcc:" not in received.data.split(b"\r\n\r\n", 1)[0]
    html = message.get_body(("html",)).get_content()
    assert "<script" not in html.lower() and "&lt;script&gt;" in html


def test_dry_run_writes_eml_files_and_changes_nothing(cli, samples, tmp_path, monkeypatch, database_url):
    setup_people(cli, samples)
    out = tmp_path / "dry"
    ran = cli("run", "--now", "--dry-run", "--out", str(out), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["written"] == 3
    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    for path in files:
        assert email.message_from_bytes(path.read_bytes(), policy=email.policy.default).get_body(("html",))
    engine = open_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(select(deliveries).where(deliveries.c.kind == "digest")).first() is None
    engine.dispose()


def test_send_test_sends_without_using_up_the_next_digest(cli, samples, mail_env):
    setup_people(cli, samples)
    ran = cli("send-test", "bob@example.org", "--json")
    assert ran.exit_code == 0 and ran.json()["sent"] == 1
    assert cli("preview", "bob@example.org", "--json").json() != []
