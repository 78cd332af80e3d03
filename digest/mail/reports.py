"""What a message in the service's own mailbox says: pure, bytes in, a `MailReport` out.

Four kinds of mail reach the envelope sender's mailbox and mean something to us:

* DSN bounces (RFC 3464: `multipart/report; report-type=delivery-status`): each recipient
  block has an Action and an enhanced Status; 5.x.x is a hard bounce, 4.x.x a soft one.
* ARF complaints (RFC 5965: `report-type=feedback-report`) of type abuse, fraud or virus.
* A mailto unsubscribe: what a mail client sends for our
  `List-Unsubscribe: <mailto:...?subject=unsubscribe>`, a message whose subject is
  "unsubscribe", from the address to remove.
* Everything else (replies, out-of-office notes, DMARC failure reports, spam) is "not ours":
  `kind` is None and `detail` says why, so a person can read it.

Both reports carry the message they are about (a `message/rfc822` or `text/rfc822-headers`
part); its Message-ID is what ties a report to an outbox row, and `candidate_message_ids`
lists every one found, best first, for the caller to verify (`mail.message.delivery_id_of`).

Built on the standard library's email parser rather than flufl.bounce: flufl.bounce
returns only the bounced addresses, while matching needs the Status code and the original
Message-ID, which the stdlib already exposes from the RFC 3464/5965 structure.

`classify` never raises: garbage (no headers, broken MIME, random bytes) is "not ours".
"""

from __future__ import annotations

import binascii
import hashlib
import quopri
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from digest.enums import MailEventKind

__all__ = ["MailReport", "RecipientStatus", "classify", "report_key"]

# Feedback types that mean "this recipient did not want this mail" (RFC 5965 section 7.3).
# not-spam, auth-failure (DMARC failure reports, RFC 6591) and other are left for a person.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})
_STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?:smtp|x-[a-z-]+)\s*;\s*([245])\d\d\b", re.IGNORECASE)
_ANGLE_ID = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_BARE_ID = re.compile(r"([^<>\s@]+@[^<>\s@]+)")
_ADDRESS = re.compile(r"[^@\s<>;,\"]+@[^@\s<>;,\"]+")
_DSN_PARTS = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_PARTS = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
_MAX_DETAIL = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    recipient: str | None  # Final-Recipient, else Original-Recipient
    action: str  # failed, delayed, delivered, relayed, expanded ("" when missing)
    status: str | None  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str  # Diagnostic-Code, one line


@dataclass(frozen=True, slots=True, kw_only=True)
class MailReport:
    """What one incoming message means. `kind` is None for mail that is not ours to act on."""

    report_key: str  # SHA-256 hex of the message's Message-ID (or of its bytes without one)
    kind: MailEventKind | None
    detail: str  # the diagnostic, the feedback type, or why it was left for a person
    recipient: str | None = None  # the bounced / complaining address, or the unsubscribe sender
    status: str | None = None  # a DSN's enhanced status code
    candidate_message_ids: tuple[str, ...] = ()  # Message-IDs of the message reported on, best first
    recipients: tuple[RecipientStatus, ...] = field(default=(), repr=False)

    @property
    def is_ours(self) -> bool:
        return self.kind is not None


def report_key(message_id: str | None, raw: bytes) -> str:
    """The idempotency key of an incoming message: its Message-ID's digest, else its bytes'."""
    data = message_id.strip().encode("utf-8", "replace") if message_id and message_id.strip() else raw
    return hashlib.sha256(data).hexdigest()


def classify(raw: bytes) -> MailReport:
    """Classify one raw message (RFC 5322 bytes). Never raises."""
    if not isinstance(raw, (bytes, bytearray)):
        return MailReport(report_key=report_key(None, b""), kind=None, detail="not a message (no bytes)")
    raw = bytes(raw)
    try:
        message = message_from_bytes(raw, policy=policy.compat32)
        key = report_key(_header(message, "Message-ID"), raw)
    except Exception as err:  # noqa: BLE001 - the stdlib parser has had crash bugs on malformed input
        return _unreadable(raw, err)
    try:
        return _classify(message, key)
    except Exception as err:  # noqa: BLE001 - same: a defect deep in a part must not stop the mailbox job
        return _unreadable(raw, err, key)


def _unreadable(raw: bytes, err: Exception, key: str | None = None) -> MailReport:
    reason = f"unreadable message ({type(err).__name__}: {str(err)[:200]})"
    return MailReport(report_key=key or report_key(None, raw), kind=None, detail=reason)


def _classify(message: Message, key: str) -> MailReport:
    content_type = message.get_content_type()
    report_type = (message.get_param("report-type") or "")
    report_type = report_type.strip().lower() if isinstance(report_type, str) else ""
    if content_type == "multipart/report" and report_type == "delivery-status":
        return _bounce(message, key)
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _complaint(message, key)
    if _subject(message).casefold() == "unsubscribe":
        return _unsubscribe(message, key)
    return MailReport(report_key=key, kind=None, detail=f"not a report or unsubscribe request ({content_type})")


# ---- DSN bounces --------------------------------------------------------------------------


def _bounce(message: Message, key: str) -> MailReport:
    part = _first_part(message, _DSN_PARTS)
    if part is None:
        return MailReport(report_key=key, kind=None, detail="delivery-status report without a delivery-status part")
    recipients = tuple(_recipient_status(block) for block in _field_blocks(part)[1:])
    worst, hard = _worst(recipients)
    if worst is None:
        return MailReport(report_key=key, kind=None, detail="delivery-status report without a failure",
                          recipients=recipients)
    kind = MailEventKind.HARD_BOUNCE if hard else MailEventKind.SOFT_BOUNCE
    detail = " ".join(filter(None, (worst.action, worst.status, worst.diagnostic)))[:_MAX_DETAIL]
    return MailReport(report_key=key, kind=kind, detail=detail, recipient=worst.recipient, status=worst.status,
                      candidate_message_ids=_original_ids(message), recipients=recipients)


def _recipient_status(block: Message) -> RecipientStatus:
    action = _oneline(block.get("Action", "")).split(" ")[0].lower()
    diagnostic = _oneline(block.get("Diagnostic-Code", ""))[:_MAX_DETAIL]
    match = _STATUS.match(_oneline(block.get("Status", "")))
    status = ".".join(match.groups()) if match else _status_from_smtp(diagnostic, action)
    recipient = _typed_address(block.get("Final-Recipient")) or _typed_address(block.get("Original-Recipient"))
    return RecipientStatus(recipient=recipient, action=action, status=status, diagnostic=diagnostic)


def _status_from_smtp(diagnostic: str, action: str) -> str | None:
    """A class-only status ("5.0.0") from an SMTP reply code, for a block with no Status."""
    match = _SMTP_CODE.search(diagnostic)
    if match and action in ("failed", "delayed"):
        return f"{match.group(1)}.0.0"
    return None


def _worst(recipients: tuple[RecipientStatus, ...]) -> tuple[RecipientStatus | None, bool]:
    """(the block that decides, whether it is permanent): a 5.x.x failure over anything
    transient (4.x.x, or "delayed"); success blocks (2.x.x, delivered, relayed) never."""
    failures = [r for r in recipients if r.status and r.status[0] in "45" and r.action in ("failed", "delayed", "")]
    hard = [r for r in failures if r.status.startswith("5") and r.action != "delayed"]
    if hard:
        return hard[0], True
    return (failures[0] if failures else None), False


def _typed_address(value: str | None) -> str | None:
    """The address of an RFC 3464 address field: "rfc822; user@example.org"."""
    if not value:
        return None
    text = _oneline(value)
    _, _, address = text.rpartition(";")
    match = _ADDRESS.search(address or text)
    return match.group(0).strip().lower() if match else None


# ---- ARF complaints -----------------------------------------------------------------------


def _complaint(message: Message, key: str) -> MailReport:
    part = _first_part(message, ("message/feedback-report",))
    blocks = _field_blocks(part) if part is not None else []
    if not blocks:
        return MailReport(report_key=key, kind=None, detail="feedback report without a feedback-report part")
    fields = blocks[0]
    feedback_type = _oneline(fields.get("Feedback-Type", "")).lower() or "(none)"
    if feedback_type not in COMPLAINT_TYPES:
        return MailReport(report_key=key, kind=None, detail=f"feedback report of type {feedback_type}")
    original = _original_headers(message)
    recipient = (_typed_address(fields.get("Original-Rcpt-To")) or _typed_address(fields.get("Removal-Recipient"))
                 or _single_address(original, "To"))
    return MailReport(report_key=key, kind=MailEventKind.COMPLAINT, detail=f"feedback-type {feedback_type}",
                      recipient=recipient, candidate_message_ids=_original_ids(message))


# ---- mailto unsubscribe -------------------------------------------------------------------


def _unsubscribe(message: Message, key: str) -> MailReport:
    auto = _oneline(message.get("Auto-Submitted", "no")).lower()
    if auto and not auto.startswith("no"):
        return MailReport(report_key=key, kind=None, detail=f"automatic message (Auto-Submitted: {auto})")
    sender = _single_address(message, "From")
    if sender is None:
        return MailReport(report_key=key, kind=None, detail="unsubscribe request without one sender address")
    return MailReport(report_key=key, kind=MailEventKind.UNSUBSCRIBE, detail="subject: unsubscribe",
                      recipient=sender)


# ---- helpers ------------------------------------------------------------------------------


def _first_part(message: Message, types: tuple[str, ...]) -> Message | None:
    for part in message.walk():
        if part.get_content_type() in types:
            return part
    return None


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a DSN or feedback-report part, however it was encoded.

    The stdlib splits an unencoded message/delivery-status into blocks and parses other
    message/* parts as one message; a part sent base64 or quoted-printable (some MTAs do)
    arrives as text and is split here at blank lines.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding not in ("base64", "quoted-printable"):
            return payload
    text = _part_text(part)
    blocks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(block.strip() + "\n") for block in blocks if block.strip()]


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if data is None:  # a parsed message/* part: serialise it back, then undo its encoding
        payload = part.get_payload()
        items = payload if isinstance(payload, list) else [payload]
        text = "\n\n".join(item.as_string() if isinstance(item, Message) else str(item) for item in items)
        data = _undo_transfer_encoding(text, str(part.get("Content-Transfer-Encoding", "")).strip().lower())
    return data.decode("utf-8", "replace")


def _undo_transfer_encoding(text: str, encoding: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if encoding == "base64":
        try:
            return binascii.a2b_base64(b"".join(data.split()))
        except binascii.Error:
            return data
    return quopri.decodestring(data) if encoding == "quoted-printable" else data


def _original_headers(message: Message) -> Message | None:
    """The headers of the message a report is about (its message/rfc822 or headers part)."""
    part = _first_part(message, _ORIGINAL_PARTS)
    if part is None:
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return HeaderParser().parsestr(_part_text(part).lstrip())


def _original_ids(message: Message) -> tuple[str, ...]:
    """Message-IDs of the reported message, best first: its own header, then the report's
    In-Reply-To / References (some MTAs set them when they return no original)."""
    found: list[str] = []
    original = _original_headers(message)
    if original is not None:
        found.extend(_message_ids(original.get("Message-ID", ""), bare=True))
    for name in ("In-Reply-To", "References"):
        found.extend(_message_ids(message.get(name, ""), bare=False))
    return tuple(dict.fromkeys(found))


def _message_ids(value: object, *, bare: bool) -> list[str]:
    """`<id@host>` tokens of a header value; with `bare`, also an id written without brackets."""
    text = _oneline(value)
    ids = [f"<{found}>" for found in _ANGLE_ID.findall(text)]
    if not ids and bare:
        match = _BARE_ID.search(text)
        ids = [f"<{match.group(1)}>"] if match else []
    return ids


def _single_address(message: Message | None, name: str) -> str | None:
    """The one address of header `name` (None when absent, empty or more than one)."""
    if message is None:
        return None
    values = [_oneline(v) for v in message.get_all(name, [])]
    addresses = [addr for _, addr in getaddresses(values) if "@" in addr]
    return addresses[0].strip().lower() if len(addresses) == 1 else None


def _subject(message: Message) -> str:
    return _decoded(message.get("Subject", "")).strip()


def _header(message: Message, name: str) -> str | None:
    value = message.get(name)
    return _oneline(value) if value is not None else None


def _decoded(value: object) -> str:
    """A header value with RFC 2047 encoded-words decoded; undecodable words kept as they are."""
    text = _oneline(value)
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeError, LookupError, ValueError, TypeError):
        return text


def _oneline(value: object) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())
