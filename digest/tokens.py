"""Signed links bound to a person: the tokens in confirm, manage, unsubscribe and feedback URLs.

A link token carries the subscriber id, a short binding of that subscriber's random
`link_secret`, an optional JSON payload (what a feedback link votes on) and the time it
was made, all signed with the site key and a salt per purpose (itsdangerous), so a manage
token can never be replayed as an unsubscribe or confirm token, and no one without the
site key can make or change one. The binding ties the link to the person rather than the
row number: `SignedLink.bound_to(row.link_secret)` must hold for the row the id names, so
a removed subscriber's links never act on anyone else (their secret went with their row).

Tokens made before links were bound (`make_token`: the id alone) still read; they come back
with `binding=None` and only rows marked `legacy_links` accept them (see jobs.subscribers).

Key rotation: signing uses the first key given; verifying accepts any of them
(DIGEST_SECRET_KEY, then DIGEST_SECRET_KEY_OLD during a rollover). Tokens are URL-safe.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes

from digest.errors import ConfigError, DigestError

__all__ = [
    "PURPOSES",
    "BadToken",
    "Keys",
    "SignedLink",
    "binding_of",
    "make_token",
    "read_link",
    "read_token",
    "sign_link",
]

# confirm / manage / unsubscribe: the subscriber's own links; feedback: "more/less like this".
PURPOSES = frozenset({"confirm", "manage", "unsubscribe", "feedback"})
MAX_TOKEN_LENGTH = 4096
# Signing keys: one string, or (current, older...) during a key rollover.
Keys = str | Sequence[str]


class BadToken(DigestError):
    """A token that is forged, tampered with, made for another purpose or expired.

    `expired` is True only for a genuine token that is too old (or dated in the future):
    the page can then say "this link has expired" rather than "this link does not work".
    """

    def __init__(self, message: str = "invalid link", *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedLink:
    """What a verified token says. `binding` is None for a legacy id-only token."""

    subscriber_id: int
    purpose: str
    binding: str | None
    payload: Any = None
    issued_at: datetime | None = None

    @property
    def legacy(self) -> bool:
        return self.binding is None

    def bound_to(self, link_secret: str) -> bool:
        """True when this token was made for the subscriber holding `link_secret` (constant time)."""
        if self.binding is None or not link_secret:
            return False
        return hmac.compare_digest(self.binding, binding_of(link_secret, self.purpose))


def binding_of(link_secret: str, purpose: str) -> str:
    """A 96-bit tag of `link_secret` for `purpose` (HMAC-SHA256, base64url): the token carries
    this, never the secret itself, so a leaked link reveals nothing reusable."""
    return _b64(_hmac_sha256(link_secret.encode("utf-8"), _BINDING_MESSAGES[purpose])[:12]).decode("ascii")


_BINDING_MESSAGES = {purpose: f"paper-digest/link/{purpose}".encode() for purpose in PURPOSES}
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    """`hmac.digest(key, message, "sha256")` (RFC 2104) from two SHA-256 hashes: each digest
    signs three links with a new key, and OpenSSL's one-shot HMAC sets up a context per call
    (2.4 us against 0.8 us here, measured; tests/unit/test_tokens.py compares the two)."""
    if len(key) > 64:  # SHA-256's block size: a longer key is hashed first
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return hashlib.sha256(key.translate(_OPAD) + hashlib.sha256(key.translate(_IPAD) + message).digest()).digest()


def _keys(secret: Keys) -> list[str]:
    keys = [secret] if isinstance(secret, str) else [key for key in secret if key]
    if not keys or not keys[0]:
        raise ConfigError("the secret key for signed links is not set")
    return keys


def _serializer(secret: Keys, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
    # itsdangerous signs with the *last* key of a list and verifies with any.
    return URLSafeTimedSerializer(list(reversed(_keys(secret))), salt=f"paper-digest/{purpose}")


def sign_link(secret: Keys, purpose: str, subscriber_id: int, link_secret: str, payload: Any = None) -> str:
    """A URL-safe token for `purpose` naming subscriber `subscriber_id`, bound to their
    `link_secret`, carrying `payload` (anything JSON can hold; keep it small: it is in the URL).

    Raises ValueError for an unknown purpose, a bad id or an empty link secret; ConfigError
    for an empty signing key.
    """
    if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool) or subscriber_id <= 0:
        raise ValueError(f"subscriber id must be a positive int, got {subscriber_id!r}")
    if not link_secret:
        raise ValueError("the subscriber has no link secret")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
    signers = _signers(secret) if type(secret) is str else _signers(tuple(_keys(secret)))
    if payload is None:  # [id,"binding"] as the compact JSON encoder writes it (both are plain ASCII)
        return signers[purpose].sign_json(b'[%d,"%s"]' % (subscriber_id, binding_of(link_secret, purpose).encode()))
    return signers[purpose].dumps([subscriber_id, binding_of(link_secret, purpose), payload])


class _TimedSigner:
    """`URLSafeTimedSerializer(keys, salt).dumps` for one purpose, with its key derived once.

    Makes byte-identical tokens (tests/unit/test_tokens.py checks them against itsdangerous
    itself), so `read_link` and every older reader accept them. itsdangerous builds a
    serializer, derives the key and creates an HMAC for every token, and zlib.compress of the
    ~28-byte payload allocates and clears ~256 KB of deflate state: 105 us a token here, three
    or four tokens per email. Deriving once and copying a keyed HMAC, deciding on compression
    with a small deflate state, costs 7-10 us (measured on the 5,000-email run's machine)."""

    __slots__ = ("_mac", "_second", "_stamp")

    def __init__(self, keys: tuple[str, ...], purpose: str):
        signer = URLSafeTimedSerializer(list(reversed(keys)), salt=f"paper-digest/{purpose}").make_signer()
        # itsdangerous' own key derivation and digest; only the keyed HMAC is kept and copied.
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        self._second, self._stamp = -1, b""

    def dumps(self, body: Any) -> str:
        return self.sign_json(_JSON.encode(body).encode("utf-8"))

    def sign_json(self, data: bytes) -> str:
        """The token of a body already encoded as itsdangerous' compact JSON.

        The ".timestamp" part is made once per second, not per token, and the base64 goes
        through binascii directly (itsdangerous' base64_encode wraps it in two calls):
        9.2 -> 8.1 us a token, three a digest (measured in a loop on the 5,000-email machine)."""
        value = _url_payload(data)
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, b"." + base64_encode(int_to_bytes(now))
        value += self._stamp
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + _b64(mac.digest())).decode("ascii")


@lru_cache(maxsize=8)
def _signers(keys: str | tuple[str, ...]) -> dict[str, _TimedSigner]:
    """The signers of each purpose for a key (as given, when one string) or key list (a run
    uses one; key rotation adds one)."""
    keys = tuple(_keys(keys))
    return {purpose: _TimedSigner(keys, purpose) for purpose in PURPOSES}


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # itsdangerous' compact JSON, made once

# Up to this many bytes, whether zlib.compress would shrink a payload is decided with a
# 512-byte window and memLevel=1: the match search sees the same candidates (the chains hold
# fewer than the 32 entries it may walk, matches of 3+ bytes hash alike at any table size,
# every distance fits the window) and the symbol buffer (127) never splits the block, so the
# length is zlib.compress's. The small state is what makes it cheap: 2 us, not 51 us.
_SMALL_DEFLATE = 32


def _b64(data: bytes) -> bytes:
    """itsdangerous' base64_encode (URL-safe alphabet, no padding) in one binascii call."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _url_payload(data: bytes) -> bytes:
    """itsdangerous' URL-safe payload: zlib-compressed (with a leading ".") when that is
    shorter by 2 bytes or more, else as it is, base64url without padding."""
    if len(data) <= _SMALL_DEFLATE:
        deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 9, 1)
        if len(deflate.compress(data) + deflate.flush()) >= len(data) - 1:
            return _b64(data)  # the usual case: a token's ~28 bytes do not shrink
    compressed = zlib.compress(data)
    if len(compressed) < len(data) - 1:
        return b"." + base64_encode(compressed)
    return base64_encode(data)


def read_link(secret: Keys, purpose: str, token: str, max_age_seconds: int | None) -> SignedLink:
    """The verified content of a `sign_link` (or legacy `make_token`) token.

    Raises BadToken when the signature does not match (forged, tampered, other key, other
    purpose), the payload is malformed, or the token is older than `max_age_seconds`
    (None: no limit) — then with `expired=True`. The caller must still load the row and
    check `bound_to(row.link_secret)` (or `legacy_links` for a legacy token).
    """
    serializer = _serializer(secret, purpose)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken()
    try:
        body, stamp = serializer.loads(token, max_age=max_age_seconds, return_timestamp=True)
    except SignatureExpired:
        raise BadToken("this link has expired", expired=True) from None
    except BadData:  # BadSignature, BadPayload, BadTimeSignature
        raise BadToken() from None
    issued = stamp if isinstance(stamp, datetime) else None
    if isinstance(body, str) and body.isascii() and body.isdigit() and len(body) <= 18 and int(body) > 0:
        return SignedLink(subscriber_id=int(body), purpose=purpose, binding=None, issued_at=issued)
    if (isinstance(body, list) and len(body) in (2, 3) and isinstance(body[0], int) and not isinstance(body[0], bool)
            and body[0] > 0 and isinstance(body[1], str)):
        payload = body[2] if len(body) == 3 else None
        return SignedLink(subscriber_id=body[0], purpose=purpose, binding=body[1], payload=payload, issued_at=issued)
    raise BadToken()


def make_token(secret: Keys, purpose: str, subject: str | int) -> str:
    """The pre-binding token format: `subject` alone, signed and time-stamped.

    New links use `sign_link`; this stays for what is not a subscriber link and for tests
    of legacy links. Raises ValueError for an unknown purpose, ConfigError for no key.
    """
    return _serializer(secret, purpose).dumps(str(subject))


def read_token(secret: Keys, purpose: str, token: str, max_age_seconds: int | None) -> str:
    """The subject a `make_token` token was made for. Raises BadToken like `read_link`."""
    serializer = _serializer(secret, purpose)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken()
    try:
        subject = serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise BadToken("this link has expired", expired=True) from None
    except BadData:
        raise BadToken() from None
    if not isinstance(subject, str):
        raise BadToken()
    return subject

