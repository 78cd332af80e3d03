"""The signed links' binding tag (digest.tokens.binding_of) is computed by a hand-written
HMAC-SHA256; it must be the standard library's, byte for byte."""

from __future__ import annotations

import base64
import hmac

import pytest

from digest.tokens import PURPOSES, _hmac_sha256, binding_of


@pytest.mark.parametrize("key", [b"", b"k", "naïve-sécret-東京".encode(), b"x" * 63, b"x" * 64, b"x" * 65,
                                 b"\x00\xff" * 100])
def test_hmac_sha256_is_the_standard_library_s(key):
    """Keys shorter than, as long as and longer than the hash's block (a long key is hashed first)."""
    for message in (b"", b"paper-digest/link/manage", bytes(range(256)) * 3):
        assert _hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_binding_is_the_plain_hmac_tag(purpose):
    for secret in ("", "abc", "s" * 100, "naïve 東京"):
        mac = hmac.digest(secret.encode(), f"paper-digest/link/{purpose}".encode(), "sha256")
        assert binding_of(secret, purpose) == base64.urlsafe_b64encode(mac[:12]).decode("ascii")
