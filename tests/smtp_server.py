"""SMTP servers for tests and benchmarks: a sink, a scripted fault server, a fast sink.

In-process (aiosmtpd in a thread, 127.0.0.1, ephemeral port):

    with start_server(SinkHandler()) as server:        # server.host, server.port
        ...                                            # server.handler.messages
    handler = ScriptedHandler({"bad@example.com": reply(550, "5.1.1 no such user", at="rcpt"),
                               "later@example.com": reply(451, "4.3.0 try later", times=1),
                               "drop@example.com": drop(), "slow@example.com": slow(3.0)})

Pytest fixtures `smtp_sink` (a running sink) and `scripted_smtp` (a factory:
`scripted_smtp(rules, **smtp_kwargs)`); use them by importing them into a test module
or with `pytest_plugins = ["tests.smtp_server"]` in a conftest.

In another process (for benchmarks and crash tests):

    python -m tests.smtp_server --port 2525 [--count-only] [--dump FILE] [--engine fast]
                                [--tls-cert CERT --tls-key KEY] [--auth]

prints `ready <host> <port>` once it accepts connections, and writes
`{"count", "connections", "message_ids"}` as JSON to FILE every --dump-interval
seconds and on SIGTERM/SIGINT (atomically, so a reader never sees half a file).
`spawn_sink()` starts one and `SinkProcess.stop()` returns that final dump.

Engines: "aiosmtpd" (a real SMTP implementation; ~1,000-1,500 messages of 25 KB per second
on one core, as it reads DATA line by line) and "fast" (`FastSinkProtocol`: just
enough SMTP for a client that behaves - EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT - several times faster, so benchmarks measure the client, not the sink).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

SERVER_NAME = "sink.test"  # fixed, so aiosmtpd never calls socket.getfqdn() per connection


def message_id_of(data: bytes) -> str | None:
    """The Message-ID header value of a raw message (None if absent)."""
    end = data.find(b"\r\n\r\n")
    head = b"\r\n" + (data[:end] if end >= 0 else data)
    at = head.lower().find(b"\r\nmessage-id:")
    if at < 0:
        return None
    stop = head.find(b"\r\n", at + 2)
    value = head[at + 13 : stop if stop >= 0 else len(head)]
    return value.strip().decode("ascii", "replace") or None


# -- handlers ---------------------------------------------------------------------------


@dataclass
class Received:
    """One accepted message. `connection` numbers the SMTP connection it came on (1, 2...)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message_id: str | None
    connection: int


class SinkHandler:
    """Accepts every message. Counts connections (one per client connection, STARTTLS
    included) and messages; keeps the messages unless `count_only`.

    Runs on the server's loop thread; read its fields once the client is done.
    """

    def __init__(self, *, count_only: bool = False, keep_data: bool = True):
        self.count_only = count_only
        self.keep_data = keep_data
        self.count = 0
        self.connections = 0
        self.messages: list[Received] = []
        self._lock = threading.Lock()

    @property
    def message_ids(self) -> list[str]:
        return [m.message_id for m in self.messages if m.message_id]

    def _connection_of(self, server: SMTP) -> int:
        number = getattr(server, "_sink_connection", None)
        if number is None:
            with self._lock:
                self.connections += 1
                number = self.connections
            server._sink_connection = number  # type: ignore[attr-defined]
        return number

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self._connection_of(server)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self._connection_of(server)
        session.host_name = hostname
        return f"250 {server.hostname}"

    def store(self, server: SMTP, envelope) -> None:
        """Count (and unless count_only keep) the message in `envelope`."""
        with self._lock:
            self.count += 1
        if self.count_only:
            return
        data = envelope.original_content or b""
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=data if self.keep_data else b"",
            message_id=message_id_of(data),
            connection=self._connection_of(server),
        )
        with self._lock:
            self.messages.append(received)

    async def handle_DATA(self, server, session, envelope):
        self.store(server, envelope)
        return "250 2.0.0 OK queued"


@dataclass(frozen=True)
class Rule:
    """What the scripted server does for one recipient.

    action: "reply" (answer `code text`), "drop" (close the connection after the
    whole DATA payload arrived, without replying) or "slow" (sleep `delay`, then
    accept). at: answer at "rcpt" or at the end of "data". times: apply to the first
    `times` attempts for that recipient, then behave normally; None = always.
    """

    action: Literal["reply", "drop", "slow"]
    code: int = 250
    text: str = "OK"
    at: Literal["rcpt", "data"] = "data"
    times: int | None = None
    delay: float = 0.0


def reply(code: int, text: str = "", *, at: Literal["rcpt", "data"] = "data", times: int | None = None) -> Rule:
    return Rule("reply", code, text or ("OK" if code < 400 else "scripted failure"), at, times)


def drop(*, times: int | None = None) -> Rule:
    return Rule("drop", times=times)


def slow(delay: float, *, times: int | None = None) -> Rule:
    return Rule("slow", times=times, delay=delay)


Decide = Callable[[str, str, int], "Rule | None"]


class ScriptedHandler(SinkHandler):
    """A sink that misbehaves on cue, per recipient address.

    `rules` maps an address (exact, case-insensitive) to a `Rule`; `decide(address,
    stage, attempt)` is asked when no rule matches (stage "rcpt" or "data", attempt
    counted per address and stage from 1). Accepted messages are stored as by the
    sink; messages whose connection was dropped after DATA are in `dropped`.
    """

    def __init__(self, rules: Mapping[str, Rule] | None = None, decide: Decide | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rules = {addr.lower(): rule for addr, rule in (rules or {}).items()}
        self.decide = decide
        self.attempts: dict[tuple[str, str], int] = {}
        self.dropped: list[Received] = []

    def _rule(self, address: str, stage: str) -> Rule | None:
        key = (address.lower(), stage)
        with self._lock:
            attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
        rule = self.rules.get(address.lower())
        if rule is not None and rule.at != stage:
            rule = None
        if rule is None and self.decide is not None:
            rule = self.decide(address, stage, attempt)
        if rule is None or (rule.times is not None and attempt > rule.times):
            return None
        return rule

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = self._rule(address, "rcpt")
        if rule is not None and rule.action == "reply":
            return f"{rule.code} {rule.text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            rule = self._rule(address, "data")
            if rule is None:
                continue
            if rule.action == "drop":
                data = envelope.original_content or b""
                self.dropped.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data, message_id_of(data), self._connection_of(server)))
                server.transport.close()
                # connection_lost() cancels this handler; never reply.
                await asyncio.Event().wait()
            if rule.action == "slow":
                await asyncio.sleep(rule.delay)  # cancelled if the client hangs up first
                break
            if 200 <= rule.code < 300:
                self.store(server, envelope)
            return f"{rule.code} {rule.text}"
        self.store(server, envelope)
        return "250 2.0.0 OK queued"


# -- a minimal, fast sink ------------------------------------------------------------------


class FastCounts:
    """Shared state of the fast sink: counters, and the server TLS context for STARTTLS."""

    def __init__(self, *, count_only: bool = False, tls_context: ssl.SSLContext | None = None, auth: bool = False):
        self.count_only = count_only
        self.tls_context = tls_context
        self.auth = auth
        self.count = 0
        self.connections = 0
        self.message_ids: list[str] = []


class FastSinkProtocol(asyncio.Protocol):
    """Just enough SMTP to accept mail from a well-behaved client, fast.

    No parsing beyond the command verb, no dot-unstuffing, no limits, any AUTH PLAIN
    accepted: for benchmarks and crash tests only. Advertises SIZE, 8BITMIME and, when
    it has a TLS context, STARTTLS (then AUTH PLAIN after TLS if `auth`).
    """

    def __init__(self, counts: FastCounts):
        self.counts = counts
        self.buffer = bytearray()
        self.in_data = False
        self.tls = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.counts.connections += 1
        transport.write(b"220 " + SERVER_NAME.encode() + b" ESMTP fast sink\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                # Search only where the terminator can be: near the new bytes.
                end = self.buffer.find(b"\r\n.\r\n", max(0, len(self.buffer) - len(data) - 4))
                if end < 0:
                    return
                self._message(bytes(self.buffer[: end + 2]))
                del self.buffer[: end + 5]
                self.in_data = False
                self.transport.write(b"250 2.0.0 OK queued\r\n")
                data = self.buffer  # everything left is new to the search
                continue
            eol = self.buffer.find(b"\r\n")
            if eol < 0:
                return
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[: eol + 2]
            self._command(verb)

    def _command(self, verb: bytes) -> None:
        assert self.transport is not None
        if verb == b"EHLO":
            lines = [SERVER_NAME.encode(), b"SIZE 33554432", b"8BITMIME"]
            if self.counts.tls_context is not None and not self.tls:
                lines.append(b"STARTTLS")
            if self.counts.auth and (self.tls or self.counts.tls_context is None):
                lines.append(b"AUTH PLAIN")
            self.transport.write(b"".join(b"250-" + line + b"\r\n" for line in lines[:-1]) + b"250 " + lines[-1] + b"\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 2.0.0 Bye\r\n")
            self.transport.close()
            self.transport = None
        elif verb == b"STAR" and self.counts.tls_context is not None and not self.tls:
            # Stop reading now: the ClientHello must reach the TLS layer, not data_received().
            self.transport.pause_reading()
            self.transport.write(b"220 2.0.0 Ready to start TLS\r\n")
            self.buffer.clear()  # RFC 3207: forget anything sent before the handshake
            transport, self.transport = self.transport, None
            asyncio.get_running_loop().create_task(self._start_tls(transport))
        elif verb == b"AUTH" and self.counts.auth:
            self.transport.write(b"235 2.7.0 Authentication successful\r\n")
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self.transport.write(b"250 OK\r\n")
        else:
            self.transport.write(b"502 5.5.2 Command not implemented\r\n")

    async def _start_tls(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.transport = await loop.start_tls(transport, self, self.counts.tls_context, server_side=True)
        except (OSError, ssl.SSLError, ConnectionError):
            transport.close()
            return
        self.tls = True
        if self.buffer:
            # The client's first command can arrive before this coroutine resumes.
            self.data_received(b"")

    def _message(self, data: bytes) -> None:
        self.counts.count += 1
        if not self.counts.count_only:
            mid = message_id_of(data)
            if mid:
                self.counts.message_ids.append(mid)

    def connection_lost(self, exc) -> None:
        self.transport = None


# -- in-process servers -----------------------------------------------------------------


class _EphemeralController(Controller):
    """aiosmtpd's Controller, able to bind port 0 (it probes `self.port` when starting)."""

    def _trigger_server(self):
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class RunningServer:
    """An aiosmtpd server running in a thread of this process."""

    handler: SinkHandler
    host: str
    port: int
    controller: Controller = field(repr=False)

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(handler: SinkHandler, *, host: str = "127.0.0.1", port: int = 0, **smtp_kwargs: Any) -> RunningServer:
    """Start aiosmtpd with `handler` on host:port (0 = any free port) in a thread.

    `smtp_kwargs` go to aiosmtpd's SMTP: tls_context, require_starttls,
    authenticator, auth_required, auth_require_tls, timeout, data_size_limit...
    """
    smtp_kwargs.setdefault("server_hostname", SERVER_NAME)
    controller = _EphemeralController(handler, hostname=host, port=port, **smtp_kwargs)
    controller.start()
    return RunningServer(handler, host, controller.port, controller)


@pytest.fixture
def smtp_sink() -> Iterator[RunningServer]:
    """An aiosmtpd sink on 127.0.0.1 (`.port`, `.handler.messages`, `.handler.connections`)."""
    with start_server(SinkHandler()) as server:
        yield server


@pytest.fixture
def scripted_smtp() -> Iterator[Callable[..., RunningServer]]:
    """Factory: `scripted_smtp(rules=None, decide=None, **smtp_kwargs)` -> a running
    ScriptedHandler server; all are stopped after the test."""
    servers: list[RunningServer] = []

    def start(rules: Mapping[str, Rule] | None = None, decide: Decide | None = None, **smtp_kwargs: Any) -> RunningServer:
        server = start_server(ScriptedHandler(rules, decide), **smtp_kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# -- a sink in another process ------------------------------------------------------------


@dataclass
class SinkProcess:
    """A sink started by `spawn_sink`; `stop()` ends it and returns its final dump."""

    process: subprocess.Popen
    host: str
    port: int
    dump: Path | None

    def read_dump(self) -> dict:
        """The latest dump (empty figures if none was written yet)."""
        if self.dump is None or not self.dump.exists():
            return {"count": 0, "connections": 0, "message_ids": []}
        return json.loads(self.dump.read_text())

    def stop(self, timeout: float = 10.0) -> dict:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.read_dump()

    def __enter__(self) -> "SinkProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_sink(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    count_only: bool = False,
    dump: Path | str | None = None,
    engine: Literal["aiosmtpd", "fast"] = "aiosmtpd",
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    auth: bool = False,
    ready_timeout: float = 15.0,
) -> SinkProcess:
    """Start `python -m tests.smtp_server` and wait for its ready line.

    With tls_cert/tls_key the sink offers STARTTLS; with `auth` it accepts any AUTH.

    Raises RuntimeError if it exits or stays silent for `ready_timeout` seconds.
    """
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "tests.smtp_server", "--host", host, "--port", str(port), "--engine", engine]
    if count_only:
        cmd.append("--count-only")
    if dump is not None:
        cmd += ["--dump", str(dump)]
    if tls_cert is not None:
        cmd += ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key or tls_cert)]
    if auth:
        cmd.append("--auth")
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    line = _read_line(proc, ready_timeout)
    parts = line.split()
    if len(parts) != 3 or parts[0] != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"sink did not start: {line!r}")
    return SinkProcess(proc, parts[1], int(parts[2]), Path(dump) if dump is not None else None)


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


def _write_json(path: Path, figures: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(figures))
    os.replace(tmp, path)


def _accept_any_login(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


async def _serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key or args.tls_cert)
    if args.engine == "fast":
        counts: Any = FastCounts(count_only=args.count_only, tls_context=tls_context, auth=args.auth)
        factory: Callable[[], asyncio.BaseProtocol] = lambda: FastSinkProtocol(counts)  # noqa: E731
    else:
        counts = SinkHandler(count_only=args.count_only, keep_data=False)
        smtp_kwargs: dict[str, Any] = {"hostname": SERVER_NAME, "tls_context": tls_context}
        if args.auth:
            smtp_kwargs.update(authenticator=_accept_any_login, auth_require_tls=tls_context is not None)
        factory = lambda: SMTP(counts, loop=loop, **smtp_kwargs)  # noqa: E731
    server = await loop.create_server(factory, args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]

    def figures() -> dict:
        ids = counts.message_ids if not args.count_only else []
        return {"count": counts.count, "connections": counts.connections, "message_ids": list(ids)}

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {args.host} {port}", flush=True)
    dump = Path(args.dump) if args.dump else None
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):  # time for the next dump
            await asyncio.wait_for(stop.wait(), args.dump_interval)
        if dump is not None:
            _write_json(dump, figures())
    server.close()
    if dump is not None:
        _write_json(dump, figures())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run a test SMTP sink until SIGTERM.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2525, help="0 = any free port (printed in the ready line)")
    ap.add_argument("--count-only", action="store_true", help="count messages, keep no Message-IDs")
    ap.add_argument("--dump", help="write counts and Message-IDs as JSON to this file")
    ap.add_argument("--dump-interval", type=float, default=0.5, help="seconds between dumps")
    ap.add_argument("--engine", choices=("aiosmtpd", "fast"), default="aiosmtpd")
    ap.add_argument("--tls-cert", help="PEM certificate: offer STARTTLS")
    ap.add_argument("--tls-key", help="PEM key (default: in the certificate file)")
    ap.add_argument("--auth", action="store_true", help="offer AUTH and accept any credentials")
    args = ap.parse_args(argv)
    # aiosmtpd logs every session at INFO and a deprecation warning per AUTH: keep
    # benchmark output readable.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
