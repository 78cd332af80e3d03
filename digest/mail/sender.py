"""What every sender shares: the message going out, the result coming back, the protocol.

Two senders implement `Sender`: `mail.smtp.SmtpSender` (a pooled SMTP client) and
`mail.files.FileSender` (.eml files, for dry runs); tests add a recording one
(`tests.fakes.MemorySender`). `send()` never raises for relay, network or disk trouble: every outcome
is a `SendResult`.

Retry contract: any result with `ok=False, permanent=False` is safe to retry later;
`permanent=True` results must not be retried as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Protocol

__all__ = ["AsyncClosing", "Outgoing", "SendResult", "Sender", "Stage"]


class Stage(StrEnum):
    """How far an SMTP transaction got, in order. REPLY means the payload was handed to the
    transport and we are waiting for the final reply: losing the connection there is
    ambiguous (maybe delivered). NONE is for senders without stages."""

    NONE = ""
    CONNECT = "connect"
    ENVELOPE = "envelope"  # our own address checks, before any I/O
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    PAYLOAD = "payload"
    REPLY = "reply"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready to send: envelope plus the complete serialised message.

    `recipients` is the SMTP envelope (RCPT TO), normally one address: digests go to
    one subscriber each. `data` is the message as `build_message` produced it.
    `seven_bit` is set when `data` holds 8-bit bodies (`build_message(eight_bit=True)`):
    it makes the same message 7-bit clean, for a relay that does not advertise 8BITMIME.
    `crlf` promises that `data` (and the 7-bit twin) already end every line, the last
    included, with CRLF, as `build_message` writes them: the SMTP client then skips
    normalising line endings (53 us of three `bytes.count` passes over a 35 KB digest,
    2.5% of a run's CPU). Unset, it checks and normalises.
    """

    delivery_id: int
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    seven_bit: Callable[[], bytes] | None = None
    crlf: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The outcome of one `send()`.

    ok: the relay accepted the message (2xx to the end of DATA).
    permanent: the relay refused it for good (5xx) or it cannot be sent as given;
        do not retry. False with ok=False means "try again later".
    code / reply: the server's reply code and text when there was one (code None for
        network errors and non-SMTP senders).
    maybe_delivered: the connection failed after the payload was written but before
        the final reply; the relay may have accepted it, so a retry may duplicate.
    stage: where the transaction stopped (see `Stage`).
    """

    delivery_id: int
    ok: bool
    permanent: bool = False
    code: int | None = None
    reply: str = ""
    maybe_delivered: bool = False
    stage: Stage = Stage.NONE

    @property
    def transient(self) -> bool:
        """A failure that is safe to retry later."""
        return not self.ok and not self.permanent

    @classmethod
    def accepted(cls, message: Outgoing, *, code: int | None, reply: str, stage: Stage = Stage.REPLY) -> "SendResult":
        return cls(delivery_id=message.delivery_id, ok=True, code=code, reply=reply, stage=stage)

    @classmethod
    def refused(cls, message: Outgoing, *, stage: Stage, code: int, reply: str) -> "SendResult":
        """A failure the server answered: 5xx permanent, anything else (4xx, odd codes) transient."""
        return cls(delivery_id=message.delivery_id, ok=False, permanent=500 <= code <= 599,
                   code=code if code >= 0 else None, reply=reply, stage=stage)

    @classmethod
    def lost(cls, message: Outgoing, *, stage: Stage, reason: str, code: int | None = None) -> "SendResult":
        """A failure without a reply; ambiguous (maybe delivered) only in the reply stage."""
        return cls(delivery_id=message.delivery_id, ok=False, code=code, reply=reason,
                   maybe_delivered=stage == Stage.REPLY, stage=stage)

    @classmethod
    def unsendable(cls, message: Outgoing, *, stage: Stage, reason: str) -> "SendResult":
        """A message that can never be sent as given (permanent, no reply)."""
        return cls(delivery_id=message.delivery_id, ok=False, permanent=True, reply=reason, stage=stage)


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


class AsyncClosing:
    """`async with sender:` closes the sender on the way out."""

    async def close(self) -> None:  # pragma: no cover - overridden
        """Release what the sender holds; nothing by default."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()
