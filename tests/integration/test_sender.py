"""SmtpSender against a real aiosmtpd server on 127.0.0.1.

Each test runs its own event loop (asyncio.run); servers run in a thread (aiosmtpd's
Controller) on an ephemeral port. Timeouts are small so the file stays fast.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult

from digest.mail.message_ids import make_message_id
from digest.mail.sender import Outgoing, SendResult
from digest.mail.smtp import SmtpConfig, SmtpSender
from tests.fakes import sample_outgoing as outgoing
from tests.smtp_server import (  # noqa: F401  (fixtures)
    RunningServer,
    SinkHandler,
    drop,
    reply,
    scripted_smtp,
    slow,
    smtp_sink,
    spawn_sink,
    start_server,
)

# The scripted server answers at RCPT or after the payload (our stage "reply").
STAGE_OF = {"rcpt": "rcpt", "data": "reply"}


def config(server: RunningServer, **changes) -> SmtpConfig:
    fields = dict(
        host=server.host,
        port=server.port,
        pool_size=1,
        rate_per_second=None,
        timeout=2.0,
        local_hostname="client.test",
        connect_backoff=0.05,
        connect_backoff_max=0.2,
    )
    fields.update(changes)
    return SmtpConfig(**fields)


async def send_all(cfg: SmtpConfig, messages: list[Outgoing], *, concurrent: bool = False) -> tuple[list[SendResult], int]:
    """Send in order (or all at once), close; return results and connections opened."""
    async with SmtpSender(cfg) as sender:
        if concurrent:
            results = list(await asyncio.gather(*(sender.send(m) for m in messages)))
        else:
            results = [await sender.send(m) for m in messages]
        return results, sender.connections_opened


def delivered_ids(server: RunningServer) -> list[str]:
    return server.handler.message_ids


# -- the pool ---------------------------------------------------------------------------


def test_pool_delivers_every_message_once_over_at_most_pool_size_connections(smtp_sink):
    messages = [outgoing(i) for i in range(1, 41)]
    results, opened = asyncio.run(send_all(config(smtp_sink, pool_size=3), messages, concurrent=True))

    assert all(r.ok and r.code == 250 for r in results), [r for r in results if not r.ok]
    assert [r.delivery_id for r in results] == list(range(1, 41))
    ids = delivered_ids(smtp_sink)
    assert sorted(ids) == sorted(make_message_id(i, "example.org") for i in range(1, 41))
    assert opened <= 3
    assert smtp_sink.handler.connections <= 3
    assert len({m.connection for m in smtp_sink.handler.messages}) <= 3
    # Byte for byte what we sent (dot-stuffing undone by the server).
    by_id = {m.message_id: m for m in smtp_sink.handler.messages}
    assert by_id[make_message_id(7, "example.org")].data == messages[6].data
    assert by_id[make_message_id(7, "example.org")].rcpt_tos == ["user7@example.com"]


def test_connections_are_reused_one_after_another(smtp_sink):
    results, opened = asyncio.run(send_all(config(smtp_sink, pool_size=3), [outgoing(i) for i in range(10)]))
    assert all(r.ok for r in results)
    assert opened == 1 and smtp_sink.handler.connections == 1


# -- classification ---------------------------------------------------------------------


@pytest.mark.parametrize("at", ["rcpt", "data"])
def test_451_is_transient_and_a_later_resend_succeeds(scripted_smtp, at):
    server = scripted_smtp({"later@example.com": reply(451, "4.3.0 try again later", at=at, times=1)})
    msg = outgoing(1, "later@example.com")
    results, opened = asyncio.run(send_all(config(server), [msg, outgoing(2), msg]))

    first, other, resend = results
    assert (first.ok, first.permanent, first.code, first.maybe_delivered) == (False, False, 451, False)
    assert "try again later" in first.reply and first.stage == STAGE_OF[at] and first.transient
    assert other.ok and resend.ok
    assert delivered_ids(server) == [make_message_id(2, "example.org"), make_message_id(1, "example.org")]
    assert opened == 1  # the 451 did not cost the connection


@pytest.mark.parametrize("at", ["rcpt", "data"])
def test_550_is_permanent_and_the_next_message_on_the_same_connection_goes_out(scripted_smtp, at):
    server = scripted_smtp({"nobody@example.com": reply(550, "5.1.1 no such user here", at=at)})
    messages = [outgoing(1), outgoing(2, "nobody@example.com"), outgoing(3), outgoing(4)]
    results, opened = asyncio.run(send_all(config(server, pool_size=1), messages))

    refused = results[1]
    assert (refused.ok, refused.permanent, refused.code) == (False, True, 550)
    assert refused.reply == "5.1.1 no such user here" and not refused.maybe_delivered
    assert refused.stage == STAGE_OF[at]
    assert [r.ok for r in results] == [True, False, True, True]
    assert delivered_ids(server) == [make_message_id(i, "example.org") for i in (1, 3, 4)]
    assert opened == 1 and server.handler.connections == 1


def test_refused_recipient_among_several_aborts_the_whole_message(scripted_smtp):
    server = scripted_smtp({"nobody@example.com": reply(550, "5.1.1 no such user", at="rcpt")})
    msg = outgoing(1)
    both = Outgoing(1, msg.mail_from, ("user1@example.com", "nobody@example.com"), msg.data)
    results, _ = asyncio.run(send_all(config(server), [both, outgoing(2)]))

    assert results[0].permanent and results[0].code == 550
    assert results[1].ok
    assert delivered_ids(server) == [make_message_id(2, "example.org")]  # no partial delivery


def test_connection_dropped_after_data_is_transient_and_maybe_delivered(scripted_smtp):
    server = scripted_smtp({"drop@example.com": drop()})
    results, opened = asyncio.run(send_all(config(server), [outgoing(1), outgoing(2, "drop@example.com"), outgoing(3)]))

    dropped = results[1]
    assert (dropped.ok, dropped.permanent, dropped.code, dropped.maybe_delivered) == (False, False, None, True)
    assert dropped.stage == "reply" and "connection lost" in dropped.reply
    assert results[0].ok and results[2].ok
    assert [m.message_id for m in server.handler.dropped] == [make_message_id(2, "example.org")]
    assert opened == 2  # the next message went out on a new connection


def test_slow_server_beyond_the_timeout_is_transient_and_the_sender_recovers(scripted_smtp):
    server = scripted_smtp({"slow@example.com": slow(3.0)})
    started = time.monotonic()
    results, opened = asyncio.run(send_all(config(server, timeout=0.4), [outgoing(1, "slow@example.com"), outgoing(2)]))

    late = results[0]
    assert (late.ok, late.permanent, late.code) == (False, False, None)
    assert "timed out" in late.reply
    # The payload was sent: the server may still accept it.
    assert late.maybe_delivered and late.stage == "reply"
    assert results[1].ok and opened == 2
    assert time.monotonic() - started < 2.5


def test_421_closes_the_connection_and_the_next_message_uses_a_new_one(scripted_smtp):
    server = scripted_smtp({"busy@example.com": reply(421, "4.3.2 shutting down", at="rcpt")})
    results, opened = asyncio.run(send_all(config(server), [outgoing(1, "busy@example.com"), outgoing(2)]))
    assert results[0].transient and results[0].code == 421
    assert results[1].ok and opened == 2


def test_a_cancelled_send_does_not_poison_the_pool(scripted_smtp):
    server = scripted_smtp({"slow@example.com": slow(3.0)})

    async def run() -> SendResult:
        async with SmtpSender(config(server)) as sender:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(sender.send(outgoing(1, "slow@example.com")), 0.2)
            return await sender.send(outgoing(2))

    assert asyncio.run(run()).ok
    assert delivered_ids(server) == [make_message_id(2, "example.org")]


def test_server_closing_an_idle_connection_costs_nothing(scripted_smtp):
    server = scripted_smtp(timeout=0.3)  # aiosmtpd hangs up on idle clients after 0.3 s

    async def run() -> list[SendResult]:
        async with SmtpSender(config(server)) as sender:
            first = await sender.send(outgoing(1))
            await asyncio.sleep(0.6)
            return [first, await sender.send(outgoing(2))]

    assert all(r.ok for r in asyncio.run(run()))
    assert len(delivered_ids(server)) == 2


def test_unreachable_relay_is_a_quick_transient_failure():
    with start_server(SinkHandler()) as server:
        host, port = server.host, server.port  # a port nobody listens on after stop()

    async def run() -> tuple[list[SendResult], float]:
        async with SmtpSender(SmtpConfig(host=host, port=port, timeout=1.0, rate_per_second=None, local_hostname="c.test", connect_backoff=0.05)) as sender:
            started = time.monotonic()
            results = [await sender.send(outgoing(i)) for i in range(3)]
            return results, time.monotonic() - started

    results, elapsed = asyncio.run(run())
    assert all(r.transient and r.stage == "connect" and not r.maybe_delivered for r in results)
    assert "cannot connect" in results[0].reply
    assert elapsed < 1.5  # backoff is short; it never blocks until the relay is back


def test_unsendable_address_is_permanent_without_touching_the_relay(smtp_sink):
    bad = Outgoing(1, "bounces@example.org", ("evil@example.com>\r\nRCPT TO:<x@y.z",), b"Subject: x\r\n\r\nx\r\n")
    results, opened = asyncio.run(send_all(config(smtp_sink), [bad]))
    assert results[0].permanent and results[0].stage == "envelope" and opened == 0


def test_send_after_close_is_an_error(smtp_sink):
    async def run() -> None:
        sender = SmtpSender(config(smtp_sink))
        assert (await sender.send(outgoing(1))).ok
        await sender.close()
        await sender.close()  # twice is fine
        with pytest.raises(RuntimeError):
            await sender.send(outgoing(2))

    asyncio.run(run())


# -- rate limit -------------------------------------------------------------------------


def test_rate_limit_spaces_messages_across_all_connections(smtp_sink):
    messages = [outgoing(i) for i in range(100)]
    started = time.monotonic()
    results, _ = asyncio.run(send_all(config(smtp_sink, pool_size=4, rate_per_second=50), messages, concurrent=True))
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed >= 1.9  # 100 messages at 50/s: 99 intervals of 20 ms


# -- the sink in another process --------------------------------------------------------


def test_sink_process_reports_what_arrived(tmp_path: Path):
    dump = tmp_path / "sink.json"
    with spawn_sink(dump=dump) as sink:
        cfg = SmtpConfig(host=sink.host, port=sink.port, pool_size=2, rate_per_second=None, timeout=2.0, local_hostname="c.test")
        results, _ = asyncio.run(send_all(cfg, [outgoing(i) for i in range(5)], concurrent=True))
        figures = sink.stop()
    assert all(r.ok for r in results)
    assert figures["count"] == 5 and figures["connections"] <= 2
    assert sorted(figures["message_ids"]) == sorted(make_message_id(i, "example.org") for i in range(5))


# -- TLS and AUTH -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory) -> ssl.SSLContext:
    """A server SSLContext with a fresh self-signed certificate for localhost."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl CLI is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"digest" and auth_data.password == b"s3cret"
    # handled=False: aiosmtpd itself answers "535" on failure.
    return AuthResult(success=ok, handled=False)


def test_starttls_and_auth(server_tls):
    handler = SinkHandler()
    kwargs = dict(tls_context=server_tls, require_starttls=True, authenticator=_authenticator, auth_required=True)
    with start_server(handler, **kwargs) as server:
        cfg = config(server, security="starttls", validate_certs=False, username="digest", password="s3cret", pool_size=2)
        results, _ = asyncio.run(send_all(cfg, [outgoing(i) for i in range(3)], concurrent=True))
        bad_cfg = config(server, security="starttls", validate_certs=False, username="digest", password="wrong")
        refused, _ = asyncio.run(send_all(bad_cfg, [outgoing(9)]))

    assert all(r.ok for r in results)
    assert len(handler.message_ids) == 3
    # Wrong credentials are a relay problem, not the message's: transient, at connect.
    assert refused[0].transient and refused[0].stage == "connect" and refused[0].code == 535


def test_certificate_is_checked_unless_told_otherwise(server_tls):
    with start_server(SinkHandler(), tls_context=server_tls, require_starttls=True) as server:
        results, _ = asyncio.run(send_all(config(server, security="starttls"), [outgoing(1)]))
    assert results[0].transient and results[0].stage == "connect"


def test_implicit_tls(server_tls):
    handler = SinkHandler()
    with start_server(handler, ssl_context=server_tls) as server:
        results, _ = asyncio.run(send_all(config(server, security="tls", validate_certs=False), [outgoing(1), outgoing(2)]))
    assert all(r.ok for r in results) and len(handler.message_ids) == 2


# -- files and memory -------------------------------------------------------------------


def test_each_reply_gets_the_whole_timeout_counted_from_the_previous_one():
    """One timer serves a transaction's replies: each may take nearly `timeout`, together
    more; a reply slower than `timeout` still times out."""

    async def serve(delay: float, slow_verb: bytes | None = None):
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"220 slow ESMTP\r\n")
            in_data = False
            while line := await reader.readline():
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        await asyncio.sleep(delay)
                        writer.write(b"250 queued\r\n")
                    continue
                verb = line[:4].upper()
                await asyncio.sleep(delay if slow_verb in (None, verb) else 0)
                if verb == b"EHLO":
                    writer.write(b"250-slow\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    in_data = True
                    writer.write(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 OK\r\n")
            writer.close()

        return await asyncio.start_server(client, "127.0.0.1", 0)

    async def send(delay: float, timeout: float, slow_verb: bytes | None = None) -> SendResult:
        server = await serve(delay, slow_verb)
        port = server.sockets[0].getsockname()[1]
        cfg = SmtpConfig(host="127.0.0.1", port=port, rate_per_second=None, timeout=timeout, local_hostname="t.local")
        async with server, SmtpSender(cfg) as sender:
            return await sender.send(outgoing(1))

    started = time.monotonic()
    patient = asyncio.run(send(0.3, 0.6))  # four replies of 0.3 s: 1.2 s, more than the timeout
    assert patient.ok and time.monotonic() - started >= 1.2
    late = asyncio.run(send(0.8, 0.5, slow_verb=b"RCPT"))
    assert not late.ok and "timed out" in late.reply and late.stage == "rcpt" and not late.maybe_delivered
