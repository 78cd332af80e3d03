"""Signed links: round trip, tampering, purpose separation and expiry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from digest.errors import ConfigError, DigestError
from digest.tokens import BadToken, make_token, read_token

SECRET = "s3cret-for-tests"


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe"])
def test_round_trip_returns_subject_as_string(purpose):
    token = make_token(SECRET, purpose, 42)
    assert read_token(SECRET, purpose, token, max_age_seconds=3600) == "42"
    assert read_token(SECRET, purpose, make_token(SECRET, purpose, "a@b.c"), None) == "a@b.c"


def test_token_is_url_safe():
    token = make_token(SECRET, "unsubscribe", "someone+tag@example.org")
    assert all(ch.isalnum() or ch in "-_." for ch in token)


def test_bad_token_is_a_digest_error():
    assert issubclass(BadToken, DigestError)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip(ch: str) -> str:
    # Flip the high bit of the base64 digit: the low bits of a token's last digit may
    # be padding that decoders ignore, so "A" -> "B" there would not be a real change.
    return B64[(B64.index(ch) + 32) % 64] if ch in B64 else "A"


def test_tampering_with_any_character_fails():
    token = make_token(SECRET, "manage", 7)
    for i in range(len(token)):
        tampered = token[:i] + _flip(token[i]) + token[i + 1 :]
        with pytest.raises(BadToken):
            read_token(SECRET, "manage", tampered, None)


def test_other_purpose_or_secret_fails():
    token = make_token(SECRET, "manage", 7)
    for purpose in ("confirm", "unsubscribe"):
        with pytest.raises(BadToken):
            read_token(SECRET, purpose, token, None)
    with pytest.raises(BadToken):
        read_token("another-secret", "manage", token, None)


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "💥", "." * 10, "A" * 5000])
def test_garbage_fails(garbage):
    with pytest.raises(BadToken):
        read_token(SECRET, "confirm", garbage, 60)


def test_expired_token_fails():
    time_machine = pytest.importorskip("time_machine")
    start = datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False):
        token = make_token(SECRET, "confirm", 5)
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert read_token(SECRET, "confirm", token, max_age_seconds=3600) == "5"
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        with pytest.raises(BadToken, match="expired"):
            read_token(SECRET, "confirm", token, max_age_seconds=3600)
        # Without a max age the same token still reads.
        assert read_token(SECRET, "confirm", token, None) == "5"


def test_future_dated_token_fails_with_max_age():
    time_machine = pytest.importorskip("time_machine")
    now = datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc)
    with time_machine.travel(now + timedelta(days=1), tick=False):
        token = make_token(SECRET, "confirm", 5)
    with time_machine.travel(now, tick=False):
        with pytest.raises(BadToken):
            read_token(SECRET, "confirm", token, max_age_seconds=3600)


def test_unknown_purpose_and_missing_secret_are_programming_errors():
    with pytest.raises(ValueError):
        make_token(SECRET, "login", 1)
    with pytest.raises(ConfigError):
        make_token("", "confirm", 1)
