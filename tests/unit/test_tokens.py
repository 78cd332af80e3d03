"""Signed links: round trip, binding to the subscriber's secret, tampering, purpose
separation, expiry, key rotation, and the legacy id-only tokens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from digest.errors import ConfigError, DigestError
from digest.tokens import BadToken, make_token, read_link, read_token, sign_link

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
        with pytest.raises(BadToken) as caught:
            read_token(SECRET, "confirm", token, max_age_seconds=3600)
        assert caught.value.expired
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


# ---- links bound to a person (issue 15, item 1) ------------------------------------------------

ADA, BOB = "ada-link-secret-0123456789", "bob-link-secret-9876543210"


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe", "feedback"])
def test_a_link_names_the_subscriber_and_is_bound_to_their_secret(purpose):
    link = read_link(SECRET, purpose, sign_link(SECRET, purpose, 7, ADA), 3600)
    assert (link.subscriber_id, link.purpose, link.legacy, link.payload) == (7, purpose, False, None)
    assert link.bound_to(ADA) and not link.bound_to(BOB) and not link.bound_to("")
    assert link.issued_at is not None


def test_the_same_id_with_another_secret_is_another_person():
    """Row 7 removed, row 7 reused: the old link names 7 but is bound to the old secret."""
    old = read_link(SECRET, "manage", sign_link(SECRET, "manage", 7, ADA), None)
    assert not old.bound_to(BOB)
    assert ADA not in sign_link(SECRET, "manage", 7, ADA)  # the secret itself never travels


def test_feedback_links_carry_a_signed_payload():
    token = sign_link(SECRET, "feedback", 7, ADA, {"paper": 123, "vote": -1})
    link = read_link(SECRET, "feedback", token, None)
    assert link.payload == {"paper": 123, "vote": -1} and link.bound_to(ADA)
    for i in range(len(token)):
        with pytest.raises(BadToken):
            read_link(SECRET, "feedback", token[:i] + _flip(token[i]) + token[i + 1:], None)
    with pytest.raises(BadToken):
        read_link(SECRET, "manage", token, None)


def test_legacy_id_only_tokens_read_as_legacy():
    link = read_link(SECRET, "manage", make_token(SECRET, "manage", 42), None)
    assert (link.subscriber_id, link.legacy) == (42, True) and not link.bound_to(ADA)
    for subject in ("a@b.c", "-1", "0", "1" * 19):
        with pytest.raises(BadToken):
            read_link(SECRET, "manage", make_token(SECRET, "manage", subject), None)


def test_links_of_the_previous_key_verify_during_a_rollover():
    old_key, new_key = SECRET, "the-new-signing-key-for-tests"
    token = sign_link(old_key, "unsubscribe", 7, ADA)
    assert read_link((new_key, old_key), "unsubscribe", token, None).bound_to(ADA)
    with pytest.raises(BadToken):
        read_link(new_key, "unsubscribe", token, None)
    fresh = sign_link((new_key, old_key), "unsubscribe", 7, ADA)  # signed with the first key
    assert read_link(new_key, "unsubscribe", fresh, None).subscriber_id == 7


def test_expired_links_say_so():
    time_machine = pytest.importorskip("time_machine")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False):
        token = sign_link(SECRET, "manage", 7, ADA)
    with time_machine.travel(start + timedelta(days=61), tick=False):
        with pytest.raises(BadToken) as caught:
            read_link(SECRET, "manage", token, 60 * 86400)
        assert caught.value.expired
    with pytest.raises(BadToken) as forged:
        read_link("another-secret", "manage", token, None)
    assert not forged.value.expired


@pytest.mark.parametrize("subscriber_id,link_secret", [(0, ADA), (-3, ADA), (True, ADA), ("7", ADA), (7, "")])
def test_signing_refuses_what_cannot_be_a_subscriber(subscriber_id, link_secret):
    with pytest.raises(ValueError):
        sign_link(SECRET, "manage", subscriber_id, link_secret)


# ---- the pre-keyed signer (issue 14): the same bytes as itsdangerous itself ----------------------


def _itsdangerous_token(keys, purpose: str, body: list) -> str:
    from itsdangerous import URLSafeTimedSerializer
    return URLSafeTimedSerializer(list(reversed(keys)), salt=f"paper-digest/{purpose}").dumps(body)


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe", "feedback"])
def test_links_are_byte_identical_to_itsdangerous_tokens(purpose):
    """Short and long, compressible and not, one key and a rollover pair: the same token."""
    time_machine = pytest.importorskip("time_machine")
    from digest.tokens import binding_of
    payloads = [None, {"paper": 123, "vote": -1}, "a" * 20, "abab" * 40, "é ü 漢字", [1, 1, 1, 1, 1, 1, 1, 1, 1]]
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, 7, tzinfo=timezone.utc), tick=False):
        for keys in ((SECRET,), ("new-key", SECRET)):
            for subscriber_id in (1, 7, 123_456, 10**12):
                for payload in payloads:
                    body = [subscriber_id, binding_of(ADA, purpose)] + ([payload] if payload is not None else [])
                    token = sign_link(keys if len(keys) > 1 else keys[0], purpose, subscriber_id, ADA, payload)
                    assert token == _itsdangerous_token(keys, purpose, body)


def test_short_payloads_compress_exactly_when_itsdangerous_would():
    """The small deflate state `_url_payload` decides with up to _SMALL_DEFLATE bytes decides
    as zlib.compress does, on random text of few symbols (often compressible) and of many
    (rarely), and the bytes are itsdangerous' either way."""
    import random
    import zlib

    from itsdangerous.encoding import base64_encode

    from digest.tokens import _SMALL_DEFLATE, _url_payload
    rng = random.Random(14)
    alphabets = [b"ab", b"abc", b"0123456789", b'[1234,"aB-_]', bytes(range(256))]
    for _ in range(20_000):
        alphabet = rng.choice(alphabets)
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, _SMALL_DEFLATE)))
        compressed = zlib.compress(data)
        expected = b"." + base64_encode(compressed) if len(compressed) < len(data) - 1 else base64_encode(data)
        assert _url_payload(data) == expected
