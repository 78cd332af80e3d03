"""Body parts of a message: text cleaned, then sent as it is (7bit/8bit) or encoded (QP/base64).

Why a message may go unencoded: a digest's bodies are ~34 KB of mostly-ASCII UTF-8 text.
Quoted-printable costs ~0.4 ms per digest to encode (binascii.b2a_qp, one pass per byte in
C, plus the re-wrap check), makes the message ~10% larger and cuts it into ~500 lines of 76
octets that every hop then handles one at a time. A relay that advertises 8BITMIME (RFC
6152; Postfix, Exim, every big provider) takes the UTF-8 text itself. So `encode_body(...,
eight_bit=True)` returns the text with CRLF line endings, labelled `7bit` (pure ASCII) or
`8bit`, whenever it is safe to: every line at most 998 octets (RFC 5322's hard limit) and
none starting with "From " (mbox hops rewrite it to ">From ", which would break the DKIM body
hash). Otherwise, and always with `eight_bit=False`, it falls back to quoted-printable or
base64, 7-bit clean with lines of at most 76 octets. The SMTP client sends a message with
8-bit bodies only to a relay that advertises 8BITMIME (`mail.smtp`), else its 7-bit twin.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["MAX_LINE_OCTETS", "body_bytes", "encode_body", "part", "part_pieces"]

MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1, CRLF excluded
_SURROGATES = re.compile("[\ud800-\udfff]")
_QP_TOKEN = re.compile(rb"=[0-9A-F]{2}|=\n|.", re.DOTALL)
# `b"\nFrom " in data`, twice as fast on a digest's bodies: bytes.find skips by the needle's
# last byte, a space, which HTML and text hold every few bytes; the regex engine looks for the
# newline first (12 -> 6 us for a 26 KB HTML body, 7 -> 4 us for its 8 KB text).
_FROM_LINE = re.compile(rb"\nFrom ")


def body_bytes(value: str | bytes) -> bytes:
    """`value` as UTF-8 with line breaks normalised to "\\n", NUL removed and lone
    surrogates replaced by U+FFFD, encoding only once on the common path. Bytes are taken
    as UTF-8 text already encoded so (the composer's HTML: see compose.records)."""
    if isinstance(value, bytes):
        if b"\r" in value:  # CR, LF and NUL are single bytes in UTF-8, never inside a character
            value = value.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return value.replace(b"\x00", b"") if b"\x00" in value else value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value).encode("utf-8")


def _sendable_as_is(data: bytes, boundary: bytes) -> bool:
    """Lines short enough for SMTP, no "From " at a line start (see the module docstring) and
    nothing that could be read as the multipart boundary."""
    if data.startswith(b"From ") or _FROM_LINE.search(data) is not None or (boundary and boundary in data):
        return False
    return _lines_fit(data)


def _lines_fit(data: bytes) -> bool:
    """No line of `data` ("\\n"-separated) is longer than MAX_LINE_OCTETS.

    Hops from a line start to just past the last newline of the next MAX_LINE_OCTETS + 1
    octets: none there means the line starting here is too long; otherwise every line up to
    that newline fits. A digest's 26 KB HTML takes ~26 hops, one rfind each: 7 us, where
    splitting it into lines to measure them took 32 us."""
    size, at, rfind = len(data), 0, data.rfind
    while size - at > MAX_LINE_OCTETS:
        newline = rfind(b"\n", at, at + MAX_LINE_OCTETS + 1)
        if newline < 0:
            return False
        at = newline + 1
    return True


def encode_body(text: str | bytes, *, eight_bit: bool = False, boundary: bytes = b"") -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, CRLF-terminated lines) for a UTF-8 text body.

    With `eight_bit`, the text itself (`7bit` or `8bit`) when `_sendable_as_is` (`boundary`:
    the enclosing multipart's, which the text must not contain); otherwise
    quoted-printable, which keeps mostly-ASCII text small and readable, or base64, which wins
    for non-Latin scripts. Both encodings are 7-bit with lines of at most 76 octets.
    """
    data = body_bytes(text)
    if eight_bit and _sendable_as_is(data, boundary):
        return ("7bit" if data.isascii() else "8bit"), data.replace(b"\n", b"\r\n")
    qp = _rewrap_long_lines(binascii.b2a_qp(data, quotetabs=False, istext=True, header=False))
    # "From " at a line start gets mangled to ">From " by some mbox-based hops, which
    # would break the DKIM body hash. Encode the F, and break the line softly right
    # after "From" so the two extra octets can never push it past 76.
    if qp.startswith(b"From "):
        qp = b"=46rom=\n " + qp[5:]
    if b"\nFrom " in qp:
        qp = qp.replace(b"\nFrom ", b"\n=46rom=\n ")
    b64_size = (len(data) + 56) // 57 * 78
    if len(qp) + qp.count(b"\n") <= b64_size:
        return "quoted-printable", qp.replace(b"\n", b"\r\n")
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    return "base64", b"\r\n".join(lines)


def _rewrap_long_lines(qp: bytes) -> bytes:
    """Soft-break any quoted-printable line over 76 octets.

    binascii.b2a_qp can emit 77 when a trailing space becomes "=20" at the limit; the
    rare long line is re-split here without cutting an =XX escape in two.
    """
    lines = qp.split(b"\n")
    if max(map(len, lines)) <= 76:
        return qp
    out = []
    for line in lines:
        while len(line) > 76:
            cut = 0
            for match in _QP_TOKEN.finditer(line):
                if match.end() > 75:
                    break
                cut = match.end()
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    return b"\n".join(out)


def part(content_type: str, text: str | bytes, *, eight_bit: bool = False, boundary: bytes = b"") -> bytes:
    """One body part: its Content-Type and Content-Transfer-Encoding headers, a blank line, the body."""
    return b"".join(part_pieces(content_type, text, eight_bit=eight_bit, boundary=boundary))


def part_pieces(content_type: str, text: str | bytes, *, eight_bit: bool = False,
                boundary: bytes = b"") -> tuple[bytes, bytes]:
    """`part` as (its headers and blank line, its body), for a caller that joins a whole
    message at once: the ~30 KB body is then copied once, not twice."""
    cte, body = encode_body(text, eight_bit=eight_bit, boundary=boundary)
    head = f"Content-Type: {content_type}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    return head.encode("ascii"), body
