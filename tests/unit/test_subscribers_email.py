"""Addresses as stored and compared: IDN domains in ASCII for SMTP, one key per mailbox."""

from __future__ import annotations

import idna
import pytest

from digest.subscribers import InvalidSubscriber, email_key, normalize_email


@pytest.mark.parametrize("raw, stored", [
    ("Ada+Digest@Example.ORG", "Ada+Digest@example.org"),
    ("USER@MÜNCHEN.DE", "USER@xn--mnchen-3ya.de"),
    ("x@straße.de", "x@xn--strae-oqa.de"),  # IDNA 2008; Python's "idna" codec gives strasse.de
    ("x@xn--strae-oqa.de", "x@xn--strae-oqa.de"),
    ("x@ｅｘａｍｐｌｅ.org", "x@example.org"),  # full-width letters mapped (UTS 46)
])
def test_normalize_email_keeps_the_domain_in_ascii(raw, stored):
    assert normalize_email(raw) == stored


@pytest.mark.parametrize("raw", ['"john doe"@example.org', "jörg@example.org", "a@b", "", "x@-bad.org"])
def test_normalize_email_refuses(raw):
    with pytest.raises(InvalidSubscriber, match="invalid email address"):
        normalize_email(raw)


@pytest.mark.parametrize("one, other", [
    ("User@München.DE", "user@xn--mnchen-3ya.de"),
    ("Ada@Example.ORG", " ada@example.org "),
    ("x@xn--strae-oqa.de", "x@straße.de"),
])
def test_email_key_is_one_per_mailbox(one, other):
    assert email_key(one) == email_key(other)


def test_email_key_of_unicode_rows_stored_before_is_unchanged():
    # keys of rows stored with a Unicode domain were the casefolded address
    assert email_key("user@münchen.de") == "user@münchen.de".casefold()


@pytest.mark.parametrize("address", [
    "ada@example.org", "Ada+x@Sub.Example.ORG", "a@under_score.org", "nobody", "a@", "@b", "x@XN--MNCHEN-3YA.DE",
    "x@xn--strae-oqa.de", "x@münchen.de", "x@xn--bad--.de",
])
def test_email_key_fast_path_matches_decoding_every_domain(address):
    def plain(email: str) -> str:
        local, at, domain = email.strip().rpartition("@")
        if at:
            try:
                domain = idna.decode(domain, uts46=True)
            except (idna.IDNAError, UnicodeError):
                domain = domain.strip()
        return f"{local}{at}{domain}".casefold()
    assert email_key(address) == plain(address)
