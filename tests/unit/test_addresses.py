"""digest.addresses.envelope_address: the address SMTP carries for a subscriber."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from digest.addresses import envelope_address
from digest.mail.message import build_message


@pytest.mark.parametrize(("stored", "sent"), [
    ("ada@example.org", "ada@example.org"),
    ("user@münchen.de", "user@xn--mnchen-3ya.de"),
    ("user@straße.de", "user@xn--strae-oqa.de"),  # IDNA 2008; Python's idna codec gives strasse.de
    ("user@BÜCHER.example", "user@xn--bcher-kva.example"),
])
def test_the_domain_goes_out_in_ascii_and_an_ascii_address_as_it_is(stored, sent):
    assert envelope_address(stored) == sent


def test_a_non_ascii_address_that_cannot_be_sent_is_a_value_error():
    for bad in ("münchen.de", "usér@", "user@-bäd-.de", "user@exa mple.dé"):
        with pytest.raises(ValueError):
            envelope_address(bad)


def test_the_to_header_names_the_same_address_as_the_envelope():
    data = build_message(from_addr="d@example.org", from_name=None, to_addr="user@straße.de", to_name=None,
                         subject="s", text="t", html="<p>t</p>", message_id="<1@example.org>",
                         date=datetime(2026, 12, 7, tzinfo=timezone.utc))
    assert b"To: user@xn--strae-oqa.de\r\n" in data
