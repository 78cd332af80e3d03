"""Signed, expiring tokens for the links in emails (confirm, manage, unsubscribe).

A token carries a subject (usually the subscriber id) and the time it was made, signed
with the site secret and a salt per purpose, so a manage token can never be replayed
as an unsubscribe or confirm token. Tokens are URL-safe and need no escaping in a path
or query string.
"""

from __future__ import annotations

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from digest.errors import ConfigError, DigestError

__all__ = ["BadToken", "PURPOSES", "make_token", "read_token"]

PURPOSES = frozenset({"confirm", "manage", "unsubscribe"})


class BadToken(DigestError):
    """A token that is forged, tampered with, made for another purpose or expired."""


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
    if not secret:
        raise ConfigError("the secret key for signed links is not set")
    return URLSafeTimedSerializer(secret, salt=f"paper-digest/{purpose}")


def make_token(secret: str, purpose: str, subject: str | int) -> str:
    """A URL-safe token binding `subject` to `purpose`, stamped with the current time.

    Raises ValueError for an unknown purpose, ConfigError for an empty secret.
    """
    return _serializer(secret, purpose).dumps(str(subject))


def read_token(secret: str, purpose: str, token: str, max_age_seconds: int | None) -> str:
    """The subject `token` was made for, as a string.

    Raises BadToken when the signature does not match (forged, tampered, other secret,
    other purpose), the payload is malformed, or the token is older than
    `max_age_seconds` (None: never expires; unsubscribe links should not). With a max
    age, tokens dated in the future fail too.
    """
    serializer = _serializer(secret, purpose)
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise BadToken("invalid link")
    try:
        subject = serializer.loads(token, max_age=max_age_seconds)
    except BadData as exc:  # BadSignature, SignatureExpired, BadPayload, BadTimeSignature
        raise BadToken(_reason(exc)) from None
    if not isinstance(subject, str):
        raise BadToken("invalid link")
    return subject


def _reason(exc: BadData) -> str:
    return "this link has expired" if isinstance(exc, SignatureExpired) else "invalid link"
