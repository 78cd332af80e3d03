"""What goes on the SMTP wire, checked and shaped before any I/O (pure functions).

The SMTP client (`mail.smtp`) runs MAIL, RCPT and DATA itself and writes the payload
itself, so these do what `aiosmtplib.sendmail` would: refuse addresses that cannot go
on a command line, normalise line endings, dot-stuff the payload.
"""

from __future__ import annotations

import re

from digest.mail.sender import Outgoing, Stage

__all__ = ["crlf", "describe", "dot_stuffed", "envelope_problem", "waiting_for"]

_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_DOT_AFTER_NEWLINE = re.compile(rb"\n\.")
# Characters that may not appear in an address on a MAIL/RCPT line.
_BAD_ADDRESS_CHARS = re.compile(r"[\x00-\x20\x7f<>]")

_WAITING_FOR = {
    Stage.MAIL: "reply to MAIL FROM",
    Stage.RCPT: "reply to RCPT TO",
    Stage.DATA: "reply to DATA",
    Stage.PAYLOAD: "payload to be written",
    Stage.REPLY: "final reply after the message was sent",
}


def waiting_for(stage: Stage) -> str:
    """What the client was waiting for in `stage`, for error messages."""
    return _WAITING_FOR.get(stage, str(stage))


def describe(exc: BaseException) -> str:
    """An exception as one line (its class name when it says nothing)."""
    text = " ".join(str(exc).split())
    return text or exc.__class__.__name__


def crlf(data: bytes) -> bytes:
    """`data` with every line ending in CRLF, ending with one, as it will be transmitted."""
    crlf_count = data.count(b"\r\n")
    if data.count(b"\n") != crlf_count or data.count(b"\r") != crlf_count:
        data = _LINE_ENDINGS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def dot_stuffed(data: bytes) -> bytes:
    """CRLF `data` as it goes over the wire after DATA: leading dots doubled, "." line added."""
    # The regex search uses memchr on its literal; `b"\n." in data` is 3x slower.
    if data.startswith(b".") or _DOT_AFTER_NEWLINE.search(data):
        data = _LEADING_DOT.sub(b"..", data)
    return data + b".\r\n"


def envelope_problem(message: Outgoing) -> str:
    """Why the envelope cannot go on MAIL/RCPT lines ("" if it can). Checked before any I/O."""
    if not message.recipients:
        return "message has no recipients"
    for addr, what in ((message.mail_from, "sender"), *((r, "recipient") for r in message.recipients)):
        if not isinstance(addr, str) or not addr.isascii() or _BAD_ADDRESS_CHARS.search(addr):
            return f"{what} address cannot be sent over SMTP: {addr!r}"
        if what == "recipient" and "@" not in addr:
            return f"recipient address has no domain: {addr!r}"
    return ""
