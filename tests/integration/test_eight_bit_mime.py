"""8BITMIME: a digest goes as UTF-8 text to a relay that advertises it, 7-bit to one that does not.

The Renderer builds the 8-bit message and, only when a relay asks for it, its 7-bit twin;
DKIM signs whichever is sent. Real aiosmtpd servers on 127.0.0.1, one without 8BITMIME.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime

import pytest

from digest.jobs.rendering import MailSetup, PlannedRow, Renderer
from digest.mail.message import build_message
from digest.mail.smtp import SmtpConfig, SmtpSender
from digest.mail.smtp_wire import crlf
from digest.models import Paper, Subscriber
from tests.smtp_server import SinkHandler, start_server
from tests.unit.mail.test_message import all_defects, assert_wire_format, dkim_key_and_dns

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
TITLE = "Schrödinger bridges for token pooling — a study"


class EnvelopeSink(SinkHandler):
    """Keeps each message and its MAIL FROM parameters; can hide 8BITMIME from EHLO."""

    def __init__(self, *, eight_bit: bool):
        super().__init__()
        self.eight_bit = eight_bit
        self.mail_options: list[list[str]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return responses if self.eight_bit else [line for line in responses if "8BITMIME" not in line]

    async def handle_DATA(self, server, session, envelope):
        self.mail_options.append(list(envelope.mail_options))
        return await super().handle_DATA(server, session, envelope)


def setup(dkim: tuple[str, str, bytes] | None = None) -> MailSetup:
    return MailSetup(base_url="https://digest.example.org", secret="kR3v9Qw2mZp8Lx7Tn4Bc6Hy1Jd5Fg0SaUeIoPlKjMnB",
                     from_addr="digest@example.org", from_name="Paper Digest", domain="example.org",
                     list_id="digest.example.org", id_salt="abc123", dkim=dkim)


def outgoing(renderer: Renderer):
    paper = Paper(title=TITLE, abstract="Pooling tokens with Schrödinger bridges cuts memory by half. " * 4,
                  arxiv_id="2612.00001", links={"abs": "https://arxiv.org/abs/2612.00001"}, id=1, key="arxiv:2612.00001")
    subscriber = Subscriber(email="zoe@example.com", name="Zoë", interests="token pooling", id=7, status="active",
                            link_secret="s3cr3t-link")
    row = PlannedRow(id=42, kind="digest", period="2026-12-07", items=[[1, 1.0, ["pooling"]]], created_at=NOW)
    return renderer.message(row, subscriber, {1: paper}, NOW)


def send(message, *, eight_bit: bool) -> EnvelopeSink:
    handler = EnvelopeSink(eight_bit=eight_bit)
    with start_server(handler) as server:
        cfg = SmtpConfig(host=server.host, port=server.port, pool_size=1, rate_per_second=None, timeout=5.0,
                         local_hostname="client.test")

        async def go():
            async with SmtpSender(cfg) as sender:
                return await sender.send(message)

        result = asyncio.run(go())
    assert result.ok, result
    return handler


def parsed(data: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert all_defects(message) == []
    return message


def content(message: email.message.EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def encodings(message: email.message.EmailMessage) -> list[str]:
    return [part["Content-Transfer-Encoding"] for part in message.iter_parts()]


def test_a_relay_with_8bitmime_gets_utf8_bodies_and_one_without_gets_the_7bit_twin():
    message = outgoing(Renderer(setup()))
    assert message.seven_bit is not None and not message.data.isascii()

    eight = send(message, eight_bit=True)
    seven = send(message, eight_bit=False)

    assert "BODY=8BITMIME" in eight.mail_options[0]
    assert "BODY=8BITMIME" not in seven.mail_options[0]
    got8, got7 = parsed(eight.messages[0].data), parsed(seven.messages[0].data)
    assert encodings(got8) == ["8bit", "8bit"]
    assert set(encodings(got7)) <= {"quoted-printable", "base64"}
    assert seven.messages[0].data.isascii()
    assert content(got8) == content(got7)  # the same email either way
    text, html = content(got8)
    assert TITLE in text and TITLE in html and "https://arxiv.org/abs/2612.00001" in html
    assert_wire_format(seven.messages[0].data)


def test_an_ascii_message_goes_7bit_unencoded():
    data = build_message(from_addr="digest@example.org", from_name=None, to_addr="ada@example.com", to_name=None,
                         subject="Token pooling", text="Pooling tokens.\n", html="<p>Pooling tokens.</p>\n",
                         message_id="<x.1@example.org>", date=NOW, eight_bit=True)
    assert data.isascii()
    assert encodings(parsed(data)) == ["7bit", "7bit"]


def test_dkim_signs_whichever_variant_is_sent(tmp_path):
    dkim = pytest.importorskip("dkim")
    pem, dns = dkim_key_and_dns(tmp_path)

    message = outgoing(Renderer(setup(("mail", "example.org", pem))))
    for eight_bit in (True, False):
        data = send(message, eight_bit=eight_bit).messages[0].data
        assert data.startswith(b"DKIM-Signature:")
        assert data.isascii() is not eight_bit
        assert dkim.verify(data, dnsfunc=dns), f"eight_bit={eight_bit}"
        parsed(data)


@pytest.mark.parametrize("signed", [False, True])
def test_rendered_messages_keep_their_promise_of_crlf_line_endings(tmp_path, signed):
    # The SMTP client trusts Outgoing.crlf and skips normalising: both variants must be wire-ready.
    key = None
    if signed:
        pytest.importorskip("dkim")
        key = ("mail", "example.org", dkim_key_and_dns(tmp_path)[0])
    message = outgoing(Renderer(setup(key)))
    assert message.crlf
    for data in (message.data, message.seven_bit()):
        assert crlf(data) == data
        assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")
