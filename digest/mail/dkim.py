"""DKIM signatures for outgoing mail (dkimpy, imported only by installations with a key)."""

from __future__ import annotations

import binascii
import re

__all__ = ["sign_dkim"]

# Signed when present: what receivers check, and both List-Unsubscribe headers (RFC 8058).
_DKIM_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post", b"reply-to",
)


def sign_dkim(message: bytes, *, selector: str, domain: str, private_key_pem: str | bytes) -> bytes:
    """`message` with a DKIM-Signature header prepended (rsa-sha256, relaxed/relaxed).

    Signs From, To, Subject, Date, Message-ID, MIME-Version, Content-Type and, as RFC
    8058 requires for one-click unsubscribe, both List-Unsubscribe headers. Accepts a
    PKCS#1 ("BEGIN RSA PRIVATE KEY") or PKCS#8 ("BEGIN PRIVATE KEY") PEM key.
    Raises ValueError for a key dkimpy cannot use.
    """
    import dkim  # imported lazily: only installations with a key pay for it

    key = _pkcs1_pem(private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem)
    present = {line.split(b":", 1)[0].strip().lower() for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if line[:1] not in (b" ", b"\t")}
    include = [h for h in _DKIM_HEADERS if h in present]
    try:
        signature = dkim.sign(
            message,
            selector.encode("ascii"),
            domain.encode("ascii"),
            key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
            linesep=b"\r\n",
        )
    except dkim.DKIMException as exc:
        raise ValueError(f"DKIM signing failed: {exc}") from exc
    return signature + message


_RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def _pkcs1_pem(pem: bytes) -> bytes:
    """A PKCS#8 RSA key rewrapped as PKCS#1, which is all dkimpy reads; others unchanged."""
    if b"BEGIN PRIVATE KEY" not in pem:
        return pem
    from dkim.asn1 import INTEGER, NULL, OBJECT_IDENTIFIER, OCTET_STRING, SEQUENCE, asn1_parse

    body = re.search(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", pem, re.S)
    if body is None:
        raise ValueError("malformed PKCS#8 PEM key")
    der = binascii.a2b_base64(b"".join(body.group(1).split()))
    template = [(SEQUENCE, [(INTEGER,), (SEQUENCE, [(OBJECT_IDENTIFIER,), (NULL,)]), (OCTET_STRING,)])]
    try:
        _version, (algorithm, _params), rsa_der = asn1_parse(template, der)[0]
    except Exception as exc:  # dkimpy's parser raises assorted errors on foreign keys
        raise ValueError("PKCS#8 key is not an RSA key dkimpy can use") from exc
    if bytes(algorithm) != _RSA_ENCRYPTION_OID:
        raise ValueError("PKCS#8 key is not an RSA key")
    b64 = binascii.b2a_base64(bytes(rsa_der), newline=False)
    lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN RSA PRIVATE KEY-----\n" + lines + b"\n-----END RSA PRIVATE KEY-----\n"
