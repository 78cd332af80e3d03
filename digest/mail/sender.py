"""Hand pre-serialised messages to a mail relay, to a folder, or to a list.

Three senders share one small protocol (`Sender`):

* `SmtpSender` keeps a pool of up to `pool_size` open aiosmtplib connections, reuses
  them across messages and paces all of them with one global rate limit.
* `FileSender` writes `<delivery_id>.eml` files (for `--dry-run` and previews).
* `MemorySender` keeps messages in a list (for tests of the outbox).

`send()` never raises for SMTP or network trouble: every outcome is a `SendResult`.
How SMTP outcomes are classified (`SmtpSender`):

    what happened                                  ok     permanent  maybe_delivered
    2xx final reply to DATA                        True   False      False
    4xx reply to MAIL, RCPT, DATA or the payload   False  False      False
    5xx reply to MAIL, RCPT, DATA or the payload   False  True       False
    malformed or unexpected reply (e.g. 3xx)       False  False      False
    address that cannot go on an SMTP command      False  True       False
    connect / greeting / EHLO / STARTTLS / AUTH    False  False      False  (any code:
        failure, including 5xx such as 535            it says nothing about the message)
    disconnect or timeout before the payload       False  False      False
        was handed to the socket
    disconnect or timeout while waiting for the    False  False      True
        final reply, after the payload was written

`maybe_delivered` is decided by the stage the transaction had reached: the sender runs
MAIL, RCPT and DATA itself and writes the payload itself, so it knows whether the
payload was fully handed to the transport when the connection died. The server may
then have accepted the message (RFC 1047), so a retry may duplicate it; the retry
carries the same Message-ID, so receivers can de-duplicate. It errs on the safe side:
a connection lost while the kernel was still sending the payload also counts.

A 421 reply (service closing) is a transient failure like any 4xx; the connection is
dropped and the next message opens a new one. A connection the relay closed while it
sat idle is noticed before use, or at MAIL, and the message retried once on a fresh
connection (safe: nothing was sent).

Retry contract: any result with `ok=False, permanent=False` is safe to retry later;
`permanent=True` results must not be retried as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Protocol

import aiosmtplib

if TYPE_CHECKING:
    from digest.config import Settings

__all__ = [
    "FileSender",
    "MemorySender",
    "Outgoing",
    "SendResult",
    "Sender",
    "SlidingWindowLimit",
    "SmtpConfig",
    "SmtpSender",
    "TokenBucket",
]

log = logging.getLogger("digest.mail")

Security = Literal["none", "starttls", "tls"]

# Transaction stages, in order. "reply" means the payload was handed to the transport
# and we are waiting for the final reply: losing the connection there is ambiguous.
STAGE_CONNECT = "connect"
STAGE_ENVELOPE = "envelope"  # our own address checks, before any I/O
STAGE_MAIL = "mail"
STAGE_RCPT = "rcpt"
STAGE_DATA = "data"
STAGE_PAYLOAD = "payload"
STAGE_REPLY = "reply"

_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_DOT_AFTER_NEWLINE = re.compile(rb"\n\.")
# Characters that may not appear in an address on a MAIL/RCPT line.
_BAD_ADDRESS_CHARS = re.compile(r"[\x00-\x20\x7f<>]")


# -- records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready to send: envelope plus the complete serialised message.

    `recipients` is the SMTP envelope (RCPT TO), normally one address: digests go to
    one subscriber each. `data` is the message as `build_message` produced it.
    """

    delivery_id: int
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one `send()`.

    ok: the relay accepted the message (2xx to the end of DATA).
    permanent: the relay refused it for good (5xx) or it cannot be sent as given;
        do not retry. False with ok=False means "try again later".
    code / reply: the server's reply code and text when there was one (code None for
        network errors and non-SMTP senders).
    maybe_delivered: the connection failed after the payload was written but before
        the final reply; the relay may have accepted it, so a retry may duplicate.
    stage: where the transaction stopped ("connect", "envelope", "mail", "rcpt",
        "data", "payload", "reply"); "" for senders without stages.
    """

    delivery_id: int
    ok: bool
    permanent: bool
    code: int | None
    reply: str
    maybe_delivered: bool = False
    stage: str = ""

    @property
    def transient(self) -> bool:
        """A failure that is safe to retry later."""
        return not self.ok and not self.permanent


def _success(message: Outgoing, code: int | None, reply: str, stage: str = STAGE_REPLY) -> SendResult:
    return SendResult(message.delivery_id, True, False, code, reply, False, stage)


def _reply_failure(message: Outgoing, stage: str, code: int, text: str) -> SendResult:
    """A failure the server answered: 5xx permanent, anything else (4xx, odd codes) transient."""
    permanent = 500 <= code <= 599
    return SendResult(message.delivery_id, False, permanent, code if code >= 0 else None, text, False, stage)


def _network_failure(message: Outgoing, stage: str, reason: str) -> SendResult:
    """A failure without a reply; ambiguous (maybe delivered) only in the reply stage."""
    return SendResult(message.delivery_id, False, False, None, reason, stage == STAGE_REPLY, stage)


# -- the protocol -----------------------------------------------------------------------


class Sender(Protocol):
    """Anything that can send `Outgoing` messages.

    `send()` returns a `SendResult` and does not raise for relay, network or disk
    trouble; it raises only for programming errors (e.g. use after `close()`).
    Up to the sender's concurrency (`SmtpSender`: its pool size) `send()` calls may
    run at once. `close()` releases connections and is safe to call twice.
    """

    async def send(self, message: Outgoing) -> SendResult: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> "Sender": ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _AsyncClosing:
    """`async with sender:` closes the sender on the way out."""

    async def close(self) -> None:  # pragma: no cover - overridden
        """Release what the sender holds; nothing by default."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()


# -- rate limits ------------------------------------------------------------------------


class TokenBucket:
    """At most `rate` acquisitions per second, evenly spaced (a burst of `burst`).

    Implemented as GCRA: each caller reserves the next free slot and sleeps until it,
    so waiting costs one timer, there is no polling, and callers go in arrival order.
    A cancelled waiter's slot is lost (the limit errs on the slow side).
    """

    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._tat = float("-inf")  # theoretical arrival time of the next caller

    def reserve(self) -> float:
        """Reserve a slot; return how long the caller must wait for it (seconds)."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._tolerance - now)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class SlidingWindowLimit:
    """At most `limit` acquisitions in any `window` seconds (a rolling hour by default).

    Keeps the last `limit` reserved times; a caller whose slot would be the
    (limit+1)-th in a window waits until the oldest one leaves it. Exact, unlike a
    token bucket, which lets up to twice the limit through in some rolling hour.
    """

    def __init__(self, limit: int, *, window: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._times: deque[float] = deque(maxlen=limit)

    def reserve(self) -> float:
        """Reserve a slot; return how long the caller must wait for it (seconds)."""
        now = self._clock()
        at = now
        if len(self._times) == self._limit:
            at = max(now, self._times[0] + self._window)
        self._times.append(at)  # reservations are non-decreasing, so the deque stays sorted
        return at - now

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


# -- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the relay and how hard to push it.

    security: "none" (plain, no opportunistic STARTTLS), "starttls" (required), or
        "tls" (implicit TLS, usually port 465).
    username/password: AUTH after connecting when username is set.
    rate_per_second / rate_per_hour: global limits over all connections (None = off).
    timeout: seconds for connecting and for each reply, including the final one.
    validate_certs / tls_context: certificate checking; tests pass validate_certs=False
        or their own context.
    local_hostname: the EHLO name; None = this host's FQDN (looked up once).
    connect_backoff / connect_backoff_max: after a failed connect, later connects wait
        this long, doubling up to the maximum, so a down relay is not hammered.
    """

    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    pool_size: int = 4
    rate_per_second: float | None = 50.0
    rate_per_hour: int | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)
    local_hostname: str | None = None
    connect_backoff: float = 0.1
    connect_backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, got {self.security!r}")
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @classmethod
    def from_settings(cls, settings: "Settings") -> "SmtpConfig":
        """The SMTP part of the application settings."""
        password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username or None,
            password=password,
            pool_size=settings.smtp_pool_size,
            rate_per_second=settings.smtp_rate,
            rate_per_hour=settings.smtp_rate_per_hour,
            timeout=settings.smtp_timeout,
        )


class SmtpSender(_AsyncClosing):
    """Send through an SMTP relay over a pool of reused connections.

    Up to `pool_size` `send()` calls run at once, each on its own connection;
    connections are opened lazily and kept open between messages. A connection that
    saw any error is reset with RSET if the session is still in step, otherwise
    closed and replaced, so one failure never leaks into the next message.

    Messages with several recipients are treated as one unit: the first refused RCPT
    aborts the whole message (RSET) and its reply is the result, so a message is never
    delivered to only some of its recipients. Digests use one recipient per message.

    `send()` may wait for the rate limit (per hour: possibly long; cancel it to stop)
    and, after connect failures, for a short backoff; it returns a transient failure
    rather than waiting for the relay to come back.
    """

    def __init__(self, config: SmtpConfig):
        self.config = config
        self._slots = asyncio.Semaphore(config.pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._limits: list[TokenBucket | SlidingWindowLimit] = []
        if config.rate_per_hour:
            self._limits.append(SlidingWindowLimit(config.rate_per_hour, window=3600.0))
        if config.rate_per_second:
            self._limits.append(TokenBucket(config.rate_per_second))
        self._tls_context: ssl.SSLContext | None = None
        self._local_hostname = config.local_hostname
        self._connect_failures = 0
        self._next_connect_at = 0.0
        self._closed = False
        self.connections_opened = 0  # for tests and benchmarks

    # -- public --------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        """Send one message; see the module docstring for how outcomes are classified.

        Raises RuntimeError after `close()`. CancelledError propagates; the connection
        in use is then closed, since its state is unknown.
        """
        if self._closed:
            raise RuntimeError("SmtpSender is closed")
        problem = _envelope_problem(message)
        if problem:
            return SendResult(message.delivery_id, False, True, None, problem, False, STAGE_ENVELOPE)
        for limit in self._limits:
            await limit.acquire()
        async with self._slots:
            return await self._send_on_pool(message)

    async def close(self) -> None:
        """QUIT every idle connection; in-flight ones are closed when their send ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle))

    # -- pool ----------------------------------------------------------------------------

    async def _send_on_pool(self, message: Outgoing) -> SendResult:
        conn = self._take_idle()
        reused = conn is not None
        if conn is None:
            conn = await self._open()
            if isinstance(conn, SendResult):
                return _for_message(conn, message)
        outcome = await self._send_on(conn, message)
        if reused and outcome.stale:
            # The relay had closed the idle connection (idle timeout) before our MAIL
            # reached it. Nothing of the message was sent: one retry on a fresh
            # connection is safe.
            conn = await self._open()
            if isinstance(conn, SendResult):
                return _for_message(conn, message)
            outcome = await self._send_on(conn, message)
        return outcome.result

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            conn = self._idle.pop()  # most recently used first: least likely to be stale
            if conn.is_connected:
                return conn
            conn.close()
        return None

    async def _send_on(self, conn: aiosmtplib.SMTP, message: Outgoing) -> "_Outcome":
        """Run one transaction on `conn`, then give `conn` back to the pool or drop it."""
        try:
            outcome = await self._transact(conn, message)
            keep = outcome.in_step and (outcome.result.ok or await self._reset(conn))
        except BaseException:
            conn.close()  # cancelled mid-transaction: the session state is unknown
            raise
        if not keep or not conn.is_connected:
            conn.close()
        elif self._closed:
            await self._quit(conn)  # close() was called while this send was in flight
        else:
            self._idle.append(conn)
        return outcome

    async def _reset(self, conn: aiosmtplib.SMTP) -> bool:
        """RSET after a refused transaction; False if the connection must go."""
        if not conn.is_connected:
            return False
        try:
            reply = await conn.rset(timeout=self.config.timeout)
        except (aiosmtplib.SMTPException, OSError):
            return False
        return 200 <= reply.code <= 299

    async def _quit(self, conn: aiosmtplib.SMTP) -> None:
        # A relay that answers QUIT badly (or not at all) changes nothing: we are leaving.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            if conn.is_connected:
                await conn.quit(timeout=min(self.config.timeout, 5.0))
        conn.close()

    # -- connecting ----------------------------------------------------------------------

    async def _open(self) -> "aiosmtplib.SMTP | SendResult":
        """A connected, greeted (STARTTLS'd, authenticated, EHLO'd) connection, or a
        transient failure saying why not (delivery_id 0; see `_for_message`).

        Waits out the backoff left by earlier failures first, so concurrent senders do
        not hammer a relay that is down. Every connection-stage failure is transient,
        whatever its code: a 535 from AUTH says nothing about the message.
        """
        delay = self._next_connect_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = aiosmtplib.SMTP(**await self._smtp_kwargs())
        try:
            await conn.connect()
            if conn.is_ehlo_or_helo_needed:
                await _greet(conn)
        except (aiosmtplib.SMTPException, OSError) as exc:
            conn.close()
            self._connect_failed()
            code = getattr(exc, "code", None)
            code = code if isinstance(code, int) and code > 0 else None
            reason = f"cannot connect to {self._where()}: {_describe(exc)}"
            return SendResult(0, False, False, code, reason, False, STAGE_CONNECT)
        except BaseException:
            conn.close()
            raise
        if self._connect_failures:
            log.info("connected to SMTP relay %s again after %d failed attempts", self._where(), self._connect_failures)
        self._connect_failures = 0
        self._next_connect_at = 0.0
        self.connections_opened += 1
        return conn

    def _connect_failed(self) -> None:
        self._connect_failures += 1
        backoff = min(self.config.connect_backoff_max, self.config.connect_backoff * 2 ** (self._connect_failures - 1))
        self._next_connect_at = time.monotonic() + backoff
        if self._connect_failures == 1:
            log.warning("cannot connect to SMTP relay %s; retrying with backoff", self._where())

    async def _smtp_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        if self._local_hostname is None:
            # socket.getfqdn() may block on DNS: once, in a thread, not per connection.
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        kwargs: dict[str, Any] = {
            "hostname": cfg.host,
            "port": cfg.port,
            "timeout": cfg.timeout,
            "local_hostname": self._local_hostname,
            "use_tls": cfg.security == "tls",
            "start_tls": cfg.security == "starttls",
        }
        if cfg.security != "none":
            kwargs["tls_context"] = self._client_tls_context()
        if cfg.username:
            kwargs["username"] = cfg.username
            kwargs["password"] = cfg.password or ""
        return kwargs

    def _client_tls_context(self) -> ssl.SSLContext:
        # Built once: loading the CA store per connection costs milliseconds.
        if self._tls_context is None:
            ctx = self.config.tls_context
            if ctx is None:
                ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
                if not self.config.validate_certs:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
            self._tls_context = ctx
        return self._tls_context

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # -- one transaction -----------------------------------------------------------------

    async def _transact(self, conn: aiosmtplib.SMTP, message: Outgoing) -> "_Outcome":
        """Run MAIL, RCPT, DATA and the payload on `conn`; never raises SMTP/network errors.

        The commands are sent one by one and the payload is written by hand (instead
        of `sendmail`) so the stage is known when the connection fails: only a failure
        after the payload was written can mean "maybe delivered".
        """
        timeout = self.config.timeout
        stage = STAGE_MAIL
        try:
            data = _crlf(message.data)
            # Raw commands rather than conn.mail()/rcpt(): the addresses were checked
            # by _envelope_problem, and aiosmtplib's re-parsing of them (email.utils)
            # cost ~40% of the client's CPU per message.
            mail = [b"MAIL", b"FROM:<" + message.mail_from.encode("ascii") + b">"]
            if conn.supports_extension("size"):
                mail.append(b"SIZE=%d" % len(data))
            reply = await conn.execute_command(*mail, timeout=timeout)
            if reply.code != 250:
                return _Outcome(_reply_failure(message, stage, reply.code, reply.message), conn.is_connected)
            stage = STAGE_RCPT
            for rcpt in message.recipients:
                reply = await conn.execute_command(b"RCPT", b"TO:<" + rcpt.encode("ascii") + b">", timeout=timeout)
                if reply.code not in (250, 251):
                    # The first refusal aborts the message: never a partial delivery.
                    return _Outcome(_reply_failure(message, stage, reply.code, reply.message), conn.is_connected)
            stage = STAGE_DATA
            reply = await conn.execute_command(b"DATA", timeout=timeout)
            if reply.code != 354:
                return _Outcome(_reply_failure(message, stage, reply.code, reply.message), conn.is_connected)
            protocol = conn.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            stage = STAGE_PAYLOAD
            protocol.write(_dot_stuffed(data))  # raises SMTPServerDisconnected before writing anything
            stage = STAGE_REPLY
            reply = await protocol.read_response(timeout=timeout)
        except TimeoutError:  # aiosmtplib's SMTPTimeoutError and plain timeouts
            reason = f"timed out after {timeout:g} s waiting for the {_waiting_for(stage)}"
            return _Outcome(_network_failure(message, stage, reason), False)
        except OSError as exc:  # SMTPServerDisconnected and other ConnectionErrors
            reason = f"connection lost waiting for the {_waiting_for(stage)}: {_describe(exc)}"
            return _Outcome(_network_failure(message, stage, reason), False, stale=stage == STAGE_MAIL)
        except aiosmtplib.SMTPResponseException as exc:
            # A malformed reply (code -1): the session is out of step, the connection must go.
            in_step = exc.code > 0 and conn.is_connected
            return _Outcome(_reply_failure(message, stage, exc.code, exc.message), in_step)
        except ValueError as exc:
            # aiosmtplib refused a command argument before writing it: still in step.
            result = SendResult(message.delivery_id, False, True, None, f"cannot send to this address: {exc}", False, stage)
            return _Outcome(result, conn.is_connected)
        except aiosmtplib.SMTPException as exc:
            return _Outcome(_network_failure(message, stage, _describe(exc)), False)
        if 200 <= reply.code <= 299:
            return _Outcome(_success(message, reply.code, reply.message), True)
        return _Outcome(_reply_failure(message, STAGE_REPLY, reply.code, reply.message), True)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A transaction's result. in_step: the session is in a known state (reusable after
    RSET). stale: the connection turned out dead before anything was sent."""

    result: SendResult
    in_step: bool
    stale: bool = False


async def _greet(conn: aiosmtplib.SMTP) -> None:
    """EHLO (HELO for old servers) right after connecting, so a refusal counts as a
    connect failure rather than as the reply to the first message's MAIL."""
    try:
        await conn.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not conn.is_connected:
            raise
        await conn.helo()


def _for_message(failure: SendResult, message: Outgoing) -> SendResult:
    """A connection failure, addressed to `message`."""
    return SendResult(message.delivery_id, failure.ok, failure.permanent, failure.code, failure.reply, False, failure.stage)


def _waiting_for(stage: str) -> str:
    return {
        STAGE_MAIL: "reply to MAIL FROM",
        STAGE_RCPT: "reply to RCPT TO",
        STAGE_DATA: "reply to DATA",
        STAGE_PAYLOAD: "payload to be written",
        STAGE_REPLY: "final reply after the message was sent",
    }.get(stage, stage)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or exc.__class__.__name__


def _crlf(data: bytes) -> bytes:
    """`data` with every line ending in CRLF, ending with one, as it will be transmitted."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_ENDINGS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF `data` as it goes over the wire after DATA: leading dots doubled, "." line added."""
    # The regex search uses memchr on its literal; `b"\n." in data` is 3x slower.
    if data.startswith(b".") or _DOT_AFTER_NEWLINE.search(data):
        data = _LEADING_DOT.sub(b"..", data)
    return data + b".\r\n"


def _envelope_problem(message: Outgoing) -> str:
    """Why the envelope cannot go on MAIL/RCPT lines ("" if it can). Checked before any I/O."""
    if not message.recipients:
        return "message has no recipients"
    for addr, what in ((message.mail_from, "sender"), *((r, "recipient") for r in message.recipients)):
        if not isinstance(addr, str) or not addr.isascii() or _BAD_ADDRESS_CHARS.search(addr):
            return f"{what} address cannot be sent over SMTP: {addr!r}"
        if what == "recipient" and "@" not in addr:
            return f"recipient address has no domain: {addr!r}"
    return ""


# -- files and memory -------------------------------------------------------------------


class FileSender(_AsyncClosing):
    """Write each message to `<folder>/<delivery_id>.eml` instead of sending it.

    The write is atomic (temporary file, then rename), so a reader never sees half a
    message and a re-send replaces the file. Disk errors come back as transient
    failures. The folder is created on first use.
    """

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    async def send(self, message: Outgoing) -> SendResult:
        try:
            path = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            return SendResult(message.delivery_id, False, False, None, f"cannot write message: {exc}")
        return SendResult(message.delivery_id, True, False, None, str(path))

    def _write(self, message: Outgoing) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{int(message.delivery_id)}.eml"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(message.data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    async def close(self) -> None:
        """Every file is closed as it is written: nothing to release."""


class MemorySender(_AsyncClosing):
    """Keep accepted messages in `sent`; every call (accepted or not) is in `attempts`.

    Everything is accepted unless `fail()` said otherwise for a delivery id.
    """

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.attempts: list[Outgoing] = []
        self._failures: dict[int, tuple[SendResult, int | None]] = {}
        self.closed = False

    def fail(
        self,
        delivery_ids: int | Iterable[int],
        *,
        permanent: bool = False,
        code: int | None = None,
        reply: str = "",
        maybe_delivered: bool = False,
        times: int | None = None,
    ) -> None:
        """Make sends of these ids fail: the next `times` attempts, or always (None)."""
        ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
        if code is None:
            code = 550 if permanent else 451
        for delivery_id in ids:
            text = reply or ("mailbox unavailable" if permanent else "try again later")
            result = SendResult(delivery_id, False, permanent, code, text, maybe_delivered, STAGE_REPLY)
            self._failures[delivery_id] = (result, times)

    async def send(self, message: Outgoing) -> SendResult:
        if self.closed:
            raise RuntimeError("MemorySender is closed")
        self.attempts.append(message)
        failure = self._failures.get(message.delivery_id)
        if failure is not None:
            result, times = failure
            if times is None or times > 0:
                if times is not None:
                    self._failures[message.delivery_id] = (result, times - 1)
                return result
        self.sent.append(message)
        return _success(message, 250, "OK", stage="")

    async def close(self) -> None:
        self.closed = True
