"""Serialise one email to MIME bytes, fast and strict.

`build_message` writes the bytes directly instead of going through
`email.message.EmailMessage` (see `tests/benchmarks/bench_mime.py` for the measured gap,
with identical decoded content). The output has CRLF line endings, headers of at most 78
octets except where a single URL or id is longer (never over 998), and parses with
`email.policy.default` without defects. It is 7-bit clean unless `eight_bit=True` lets
bodies go as UTF-8 (see `mail.bodies`).

Header safety is structural: every piece of caller text that lands in a header passes
through `clean_header_text`, which turns CR, LF and every other control character into
spaces (NUL is dropped), so no input can start a new header line. Addresses, ids and
URLs are validated and rejected rather than repaired. Message-IDs are made and recognised
in `mail.message_ids`, DKIM signatures added in `mail.dkim`.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Iterable, Mapping

from digest.addresses import envelope_address
from digest.errors import DeliveryError
from digest.mail.bodies import body_bytes, part_pieces

__all__ = ["DOMAIN_RE", "InvalidAddress", "build_message", "clean_body", "clean_header_text"]

_MAX_LINE = 78  # RFC 5322 "SHOULD"; 998 is the hard limit

# Controls become spaces so words stay apart; NUL is simply dropped.
_HEADER_TABLE = {i: " " for i in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_HEADER_TABLE[0] = None
_SURROGATES = re.compile("[\ud800-\udfff]")

_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(f"({_DOT_ATOM})@({_DOMAIN})")
DOMAIN_RE = re.compile(_DOMAIN)  # a domain name (also used by mail.message_ids)
_MSGID = re.compile(f"<({_DOT_ATOM})@({_DOMAIN})>")
_LIST_ID = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)+")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# RFC 3986 characters only: anything else (space, quotes, <>, controls) is rejected.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")

# Headers build_message writes itself; extra_headers may not repeat them.
_MANAGED = frozenset(
    h.lower()
    for h in (
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
        "Cc", "Bcc", "Sender", "DKIM-Signature",
    )
)


class InvalidAddress(DeliveryError):
    """An address, id or URL that cannot go into a header as given. Never retried."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


def clean_header_text(value: str | None) -> str:
    """The text a header will carry for `value`.

    Control characters (CR, LF, tab, C1...) become spaces, NUL is removed, whitespace
    runs collapse to one space, ends are trimmed, lone surrogates become U+FFFD. The
    result can never end a header line, whatever the input.
    """
    if not value:
        return ""
    value = " ".join(value.translate(_HEADER_TABLE).split())
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATES.sub("\ufffd", value)
    return value


def clean_body(value: str | bytes) -> str:
    """The body text a part will carry: line breaks normalised to "\\n", NUL removed,
    lone surrogates replaced by U+FFFD. Everything else is kept (bodies are encoded)."""
    return body_bytes(value).decode("utf-8")


# -- header encoding ----------------------------------------------------------------


def _b_word(data: bytes) -> str:
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="


def _encode_run(text: str, max_bytes: int) -> list[str]:
    """RFC 2047 base64 encoded-words for `text`, each at most `max_bytes` of UTF-8.

    Decoders drop the whitespace between adjacent encoded-words (RFC 2047 6.2), so a
    split prefers to fall just after a space, which stays inside the earlier word;
    only a single overlong token is split mid-token. Splits never cut a character.
    """
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return [_b_word(data)]
    words: list[str] = []
    chunk = bytearray()
    last_space = -1  # offset in chunk just after its last space
    for ch in text:
        encoded = ch.encode("utf-8")
        while len(chunk) + len(encoded) > max_bytes:
            cut = last_space if last_space > 0 else len(chunk)
            words.append(_b_word(bytes(chunk[:cut])))
            del chunk[:cut]
            last_space = -1
        chunk += encoded
        if ch == " ":
            last_space = len(chunk)
    if chunk:
        words.append(_b_word(bytes(chunk)))
    return words


def _header_words(text: str, plain: "re.Pattern[str] | None", room: int) -> list[str]:
    """`text` as header words to be joined by single spaces (and so foldable there).

    Tokens that `plain` accepts (and that fit a line) stay readable; runs of other
    tokens become encoded-words that carry their inner spaces. Whitespace between a
    plain word and an encoded-word is kept by every decoder, so the text round-trips.
    """
    max_bytes = max((min(room, 75) - 12) // 4 * 3, 12)
    words: list[str] = []
    run: list[str] = []
    for token in text.split(" "):
        if len(token) <= room and "=?" not in token and token.isascii() and (
            plain.fullmatch(token) if plain is not None else token.isprintable()
        ):
            if run:
                words.extend(_encode_run(" ".join(run), max_bytes))
                run = []
            words.append(token)
        else:
            run.append(token)
    if run:
        words.extend(_encode_run(" ".join(run), max_bytes))
    return words


def _plain_ascii(text: str) -> bool:
    # "=?" could be read back as an encoded-word, so such text is encoded itself.
    return text.isascii() and text.isprintable() and "=?" not in text


def _unstructured(name: str, value: str) -> str:
    """`Name: value` folded at spaces to 78 octets; non-ASCII words as encoded-words."""
    value = clean_header_text(value)
    if not value:
        return f"{name}:"
    prefix = f"{name}: "
    return prefix + _fold_words(_header_words(value, None, _MAX_LINE - len(prefix)), len(prefix))


def _fold_words(words: list[str], used: int) -> str:
    """Join words with single spaces, folding before a space when a line would pass 78."""
    lines: list[str] = []
    line = words[0]
    used += len(line)
    for word in words[1:]:
        if used + 1 + len(word) > _MAX_LINE:
            lines.append(line)
            line, used = word, 1 + len(word)
        else:
            line += " " + word
            used += 1 + len(word)
    lines.append(line)
    return "\r\n ".join(lines)


def _check_address(addr: str, what: str) -> str:
    """`addr` if it is a plain ASCII addr-spec (IDN domains converted), else InvalidAddress."""
    if not isinstance(addr, str) or any(ch in addr for ch in "\r\n\x00"):
        raise InvalidAddress(f"{what} address contains a line break or NUL")
    addr = addr.strip()
    local, _, domain = addr.rpartition("@")
    if domain and not domain.isascii():
        try:
            addr = envelope_address(addr)  # IDNA 2008, as the envelope gets it
        except ValueError:
            raise InvalidAddress(f"{what} address has an invalid domain: {addr!r}") from None
    if len(addr) > 254 or not _ADDRESS.fullmatch(addr):
        raise InvalidAddress(f"{what} address is not a plain ASCII address: {addr!r}")
    return addr


def _address_header(name: str, display: str | None, addr: str) -> str:
    """`Name: phrase <addr>`: the phrase as atoms, one quoted-string or encoded-words."""
    addr = _check_address(addr, name)
    display = clean_header_text(display)
    prefix = f"{name}: "
    if not display:
        return prefix + addr
    tail = f"<{addr}>"
    if _plain_ascii(display) and not _ATOM_PHRASE.fullmatch(display):
        # ASCII with specials ("Smith, J.") reads best as one quoted-string.
        quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(prefix) + len(quoted) <= _MAX_LINE:
            return prefix + _fold_words([quoted, tail], len(prefix))
    words = _header_words(display, _ATOM, _MAX_LINE - len(prefix))
    return prefix + _fold_words([*words, tail], len(prefix))


# A run sends every message from one address at one `now` (per batch): these two headers
# are made once, not per message (~10 us a message together).
@lru_cache(maxsize=64)
def _from_header(display: str | None, addr: str) -> str:
    return _address_header("From", display, addr)


def _date_header(date: datetime) -> str:
    # Keyed by the offset too: datetimes equal as instants (07:00Z, 08:00+01:00) compare and
    # hash alike, but each keeps its own offset in the header.
    return _date_line(date.utcoffset(), date)


@lru_cache(maxsize=64)
def _date_line(offset: object, date: datetime) -> str:
    return f"Date: {format_datetime(date)}"


@lru_cache(maxsize=4096)
def _subject_header(subject: str) -> str:
    """The Subject header, made once per distinct subject: digests' subjects are made of their
    count and topics, so messages share them (the 5,000-email run has 1,683 distinct: 2 of 3
    messages skip the 5.3 us of cleaning and folding, ~3.5 us a message on average)."""
    return _unstructured("Subject", subject)


def _check_uri(uri: str, scheme: str, what: str) -> str:
    uri = uri.strip() if isinstance(uri, str) else ""
    if not _URI.fullmatch(uri) or not uri.lower().startswith(scheme) or len(uri) > 900:
        raise InvalidAddress(f"{what} is not a valid {scheme} URI: {uri!r}")
    return uri


def _message_id(message_id: str) -> str:
    if not isinstance(message_id, str):
        raise InvalidAddress("Message-ID must be a string")
    message_id = message_id.strip()
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    if len(message_id) > 250 or not _MSGID.fullmatch(message_id):
        raise InvalidAddress(f"Message-ID is malformed: {message_id!r}")
    return message_id


# Over 40 lines only by its 14 keyword parameters and the contract in its docstring; the body is short.
def build_message(
    *,
    from_addr: str,
    from_name: str | None,
    to_addr: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str | bytes,
    message_id: str,
    date: datetime,
    list_id: str | None = None,
    list_unsubscribe_url: str | None = None,
    list_unsubscribe_mailto: str | None = None,
    extra_headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    eight_bit: bool = False,
) -> bytes:
    """The complete message as bytes: multipart/alternative, text/plain then text/html.

    Contract:
    * `date` must be timezone-aware (ValueError otherwise).
    * Addresses must be plain ASCII addr-specs (IDN domains are converted); a bad
      address, Message-ID, List-Id or unsubscribe URI raises `InvalidAddress`.
    * Names and subject may be any text: they are cleaned with `clean_header_text`
      and RFC 2047-encoded when not plain ASCII. Bodies are cleaned with `clean_body`;
      either may be given as its UTF-8 bytes.
    * List headers are optional (the confirmation email has none). When an https
      unsubscribe URL is given, `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
      (RFC 8058) is added, so that URL must accept a POST that unsubscribes.
    * `extra_headers` may not repeat a header this function writes (ValueError).
    * `eight_bit=False`: 7-bit clean (quoted-printable or base64 bodies). `eight_bit=True`:
      bodies go as UTF-8 text (`8bit`, or `7bit` when ASCII) where `mail.bodies` finds that
      safe; such a message may only be sent to a relay that advertises 8BITMIME.
    """
    if not isinstance(date, datetime) or date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("date must be a timezone-aware datetime")
    message_id = _message_id(message_id)
    headers = [
        _from_header(from_name, from_addr),
        _address_header("To", to_name, to_addr),
        _subject_header(subject) if type(subject) is str else _unstructured("Subject", subject),
        _date_header(date),
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    headers += _list_headers(list_id, list_unsubscribe_url, list_unsubscribe_mailto)
    headers.extend(_extra_headers(extra_headers))

    return _assemble(headers, message_id, text=text, html=html, eight_bit=eight_bit)


def _list_headers(list_id: str | None, url: str | None, mailto: str | None) -> list[str]:
    """List-Id, List-Unsubscribe and, for an https URL, RFC 8058 one-click; each optional."""
    headers = []
    if list_id:
        list_id = list_id.strip()
        if not _LIST_ID.fullmatch(list_id) or len(list_id) > 255:
            raise InvalidAddress(f"List-Id must look like 'name.example.org': {list_id!r}")
        headers.append(f"List-Id: <{list_id}>")
    unsubscribe = []
    # http is accepted for local trials (DIGEST_BASE_URL=http://...), but RFC 8058
    # one-click is only announced over https.
    https = bool(url) and url.strip().lower().startswith("https://")
    if url:
        unsubscribe.append(f"<{_check_uri(url, 'https://' if https else 'http://', 'List-Unsubscribe URL')}>")
    if mailto:
        unsubscribe.append(f"<{_check_uri(mailto, 'mailto:', 'List-Unsubscribe mailto')}>")
    if unsubscribe:
        headers.append("List-Unsubscribe: " + ",\r\n ".join(unsubscribe))
        if https:
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    return headers


def _assemble(headers: list[str], message_id: str, *, text: str | bytes, html: str | bytes, eight_bit: bool) -> bytes:
    """Headers, then the text and HTML parts of a multipart/alternative body."""
    # "=" never starts a base64 or QP line, so a boundary beginning with "=_" cannot occur
    # inside an encoded body; a body sent as it is is checked not to hold it (mail.bodies).
    boundary = "=_pd_" + hashlib.blake2b(message_id.encode(), digest_size=12).hexdigest()
    headers = [*headers, f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"']
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    marker = f"--{boundary}".encode("ascii")
    return b"".join((
        "\r\n".join(headers).encode("ascii"), b"\r\n",
        delimiter, *part_pieces("text/plain", text, eight_bit=eight_bit, boundary=marker),
        delimiter, *part_pieces("text/html", html, eight_bit=eight_bit, boundary=marker),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ))


def _extra_headers(extra: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[str]:
    if not extra:
        return []
    pairs = extra.items() if isinstance(extra, Mapping) else extra
    lines = []
    for name, value in pairs:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name) or len(name) > 70:
            raise ValueError(f"invalid header name: {name!r}")
        if name.lower() in _MANAGED:
            raise ValueError(f"header {name} is written by build_message; do not pass it in extra_headers")
        lines.append(_unstructured(name, str(value)))
    return lines
