"""MIME serialisation: checked by parsing the bytes back with the stdlib parser."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import DeliveryError
from digest.mail.dkim import sign_dkim
from digest.mail.message import (
    InvalidAddress,
    build_message,
    clean_body,
    clean_header_text,
)
from digest.mail.message_ids import delivery_id_of, make_message_id

DATE = datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc)
BASE_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
LIST_HEADERS = {"list-id", "list-unsubscribe", "list-unsubscribe-post"}


def build(**changes) -> bytes:
    fields = dict(
        from_addr="digest@example.org",
        from_name="Paper Digest",
        to_addr="ada@example.com",
        to_name="Ada Lovelace",
        subject="3 new papers on token pooling",
        text="Hello Ada,\nthree papers today.\n",
        html="<p>Hello <b>Ada</b>, three papers today.</p>\n",
        message_id=make_message_id(123, "example.org"),
        date=DATE,
        list_id="daily.digest.example.org",
        list_unsubscribe_url="https://digest.example.org/u/tok123",
        list_unsubscribe_mailto="mailto:unsubscribe+tok123@example.org",
    )
    fields.update(changes)
    return build_message(**fields)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def all_defects(msg) -> list:
    found = list(msg.defects)
    for name, value in msg.items():
        found.extend(getattr(value, "defects", ()))
    for part in msg.iter_parts():
        found.extend(all_defects(part))
    return found


def assert_wire_format(raw: bytes) -> None:
    """7-bit, CRLF everywhere, no line over 998 octets and header lines within 78."""
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n") and raw.count(b"\r") == raw.count(b"\r\n")
    assert b"\x00" not in raw
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 998
    head, body = raw.split(b"\r\n\r\n", 1)
    # Only a single unbreakable URL or address may exceed 78 (never 998).
    assert all(len(line) <= 78 or b"http" in line or b"@" in line for line in head.split(b"\r\n"))
    # Encoded bodies keep to 76 (RFC 2045); part headers and boundaries are short.
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def rfc2047_display_name(raw: bytes, name: str) -> str:
    """The display name in header `name`, decoded the RFC 2047 way, as mail clients do
    (whitespace between adjacent encoded-words is dropped)."""
    value = email.message_from_bytes(raw, policy=email.policy.compat32)[name]
    value = re.sub(r"\r?\n(?=[ \t])", "", value)  # unfold
    if "<" not in value:
        return ""
    phrase = value.rsplit("<", 1)[0].strip()
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return str(make_header(decode_header(phrase)))


def texts(msg) -> tuple[str, str]:
    plain, html = msg.iter_parts()
    return plain.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_structure_and_headers():
    raw = build()
    assert_wire_format(raw)
    msg = parse(raw)
    assert all_defects(msg) == []
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain" and plain.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html" and html.get_content_charset() == "utf-8"
    assert texts(msg) == ("Hello Ada,\nthree papers today.\n", "<p>Hello <b>Ada</b>, three papers today.</p>\n")

    assert {k.lower() for k in msg.keys()} == BASE_HEADERS | LIST_HEADERS
    assert msg["From"].addresses[0].display_name == "Paper Digest"
    assert msg["From"].addresses[0].addr_spec == "digest@example.org"
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"
    assert msg["Subject"] == "3 new papers on token pooling"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"].datetime == DATE
    assert msg["Message-ID"] == make_message_id(123, "example.org")
    assert msg["List-Id"] == "<daily.digest.example.org>"
    assert msg["List-Unsubscribe"] == "<https://digest.example.org/u/tok123>, <mailto:unsubscribe+tok123@example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Auto-Submitted" not in msg


def test_list_headers_are_optional():
    msg = parse(build(list_id=None, list_unsubscribe_url=None, list_unsubscribe_mailto=None))
    assert {k.lower() for k in msg.keys()} == BASE_HEADERS
    only_mailto = parse(build(list_unsubscribe_url=None))
    assert only_mailto["List-Unsubscribe"] == "<mailto:unsubscribe+tok123@example.org>"
    assert "List-Unsubscribe-Post" not in only_mailto  # one-click needs the https URL


def test_message_ids_differ_for_a_reused_id_a_reset_database_or_another_installation():
    """Issue 15: two people were sent the same Message-ID (SQLite reused row ids). Ids are no
    longer reused; the row's creation time and the installation's salt keep them apart even
    when a database starts again from 1, and both forms still verify as ours."""
    created = datetime(2026, 11, 29, 7, 0, 0, 123456, tzinfo=timezone.utc)
    one = make_message_id(1, "example.org", salt="install-a", created=created)
    assert re.fullmatch(r"<digest-1\.[0-9a-z]{1,14}\.[0-9a-f]{16}@example\.org>", one)
    assert one == make_message_id(1, "example.org", salt="install-a", created=created)  # a retry: same id
    assert one != make_message_id(1, "example.org", salt="install-a", created=created + timedelta(microseconds=1))
    assert one != make_message_id(1, "example.org", salt="install-b", created=created)
    assert delivery_id_of(one, salt="install-a") == 1 and delivery_id_of(one, salt="install-b") is None
    assert delivery_id_of(one, salt=("install-b", "install-a")) == 1  # during a key rollover
    assert delivery_id_of(make_message_id(7, "example.org", salt="install-a"), salt="install-a") == 7  # older form
    assert delivery_id_of(one.replace("<digest-1.", "<digest-2."), salt="install-a") is None


def test_message_id_is_stable_and_well_formed():
    one = make_message_id(123, "Example.org")
    assert one == make_message_id(123, "example.org")
    assert re.fullmatch(r"<digest-123\.[0-9a-f]{16}@example\.org>", one)
    assert make_message_id(124, "example.org") != one
    assert make_message_id(123, "example.org", salt="other-install") != one
    with pytest.raises(ValueError):
        make_message_id(-1, "example.org")
    with pytest.raises(ValueError):
        make_message_id(1, "bad domain\r\n")


def test_same_input_gives_same_bytes():
    assert build() == build()  # retries (and DKIM) see exactly the same message


def test_non_ascii_names_and_subject_round_trip():
    raw = build(
        from_name="Lettre d'Étude",
        to_name="Zoë Ångström-Łukasiewicz",
        subject="Nouveautés : 5 articles sur la normalisation — «token pooling» 🚀",
    )
    assert_wire_format(raw)
    assert b"=?utf-8?b?" in raw
    msg = parse(raw)
    assert all_defects(msg) == []
    assert msg["From"].addresses[0].display_name == "Lettre d'Étude"
    assert msg["To"].addresses[0].display_name == "Zoë Ångström-Łukasiewicz"
    assert msg["Subject"] == "Nouveautés : 5 articles sur la normalisation — «token pooling» 🚀"


def test_long_subject_is_folded_not_truncated():
    subject = " ".join(["normalization"] * 30)
    raw = build(subject=subject)
    assert_wire_format(raw)
    assert parse(raw)["Subject"] == subject
    long_word = "x" * 300
    raw = build(subject=f"see {long_word} now")
    assert_wire_format(raw)
    assert parse(raw)["Subject"] == f"see {long_word} now"


def test_names_needing_quotes():
    raw = build(to_name='Lovelace, Ada "Countess" \\ of Lovelace.')
    msg = parse(raw)
    assert all_defects(msg) == []
    assert msg["To"].addresses[0].display_name == 'Lovelace, Ada "Countess" \\ of Lovelace.'
    assert len(msg["To"].addresses) == 1


@pytest.mark.parametrize("field", ["to_name", "from_name", "subject"])
@pytest.mark.parametrize("evil", ["Eve\r\nBcc: x@y", "Eve\nBcc: x@y", "Eve\rBcc: x@y", "Eve\r\n\r\nBcc: x@y", "Eve\x00\r\nBcc: x@y"])
def test_header_injection_adds_no_header(field, evil):
    raw = build(**{field: evil})
    assert_wire_format(raw)
    msg = parse(raw)
    assert all_defects(msg) == []
    assert {k.lower() for k in msg.keys()} == BASE_HEADERS | LIST_HEADERS
    assert "Bcc" not in msg
    assert b"\r\nBcc:" not in raw
    value = msg["Subject"] if field == "subject" else msg["To" if field == "to_name" else "From"].addresses[0].display_name
    assert value == clean_header_text(evil)
    assert "\r" not in value and "\n" not in value and "\x00" not in value


def test_nul_is_removed_everywhere():
    raw = build(to_name="A\x00da", subject="Sub\x00ject", text="te\x00xt", html="<p>h\x00</p>")
    assert b"\x00" not in raw
    msg = parse(raw)
    assert msg["To"].addresses[0].display_name == "Ada"
    assert msg["Subject"] == "Subject"
    assert texts(msg) == ("text", "<p>h</p>")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to_addr": "eve@example.com\r\nBcc: x@y"},
        {"to_addr": "eve@example.com\nBcc: x@y"},
        {"to_addr": "eve\x00@example.com"},
        {"to_addr": "Eve <eve@example.com>"},
        {"to_addr": "eve@example.com, x@y.org"},
        {"to_addr": "not-an-address"},
        {"to_addr": "josé@example.com"},
        {"from_addr": "digest@example.org\r\nX: y"},
        {"message_id": "<a@b>\r\nBcc: x@y"},
        {"list_id": "x\r\nBcc: y"},
        {"list_unsubscribe_url": "https://x.org/u\r\nBcc: x@y"},
        {"list_unsubscribe_url": "https://x.org/u>, <https://evil.org/"},
        {"list_unsubscribe_url": "javascript:alert(1)"},
        {"list_unsubscribe_mailto": "https://x.org/u"},
    ],
)
def test_bad_addresses_ids_and_uris_are_rejected(kwargs):
    with pytest.raises(InvalidAddress) as caught:
        build(**kwargs)
    assert isinstance(caught.value, DeliveryError) and caught.value.permanent


def test_idn_domain_is_converted():
    msg = parse(build(to_addr="ada@bücher.example"))
    assert msg["To"].addresses[0].addr_spec == "ada@xn--bcher-kva.example"


def test_extra_headers():
    msg = parse(build(extra_headers={"Reply-To": "help@example.org", "X-Campaign": "daily\r\nBcc: x@y"}))
    assert msg["Reply-To"].addresses[0].addr_spec == "help@example.org"
    assert msg["X-Campaign"] == "daily Bcc: x@y"
    assert "Bcc" not in msg
    with pytest.raises(ValueError):
        build(extra_headers={"Subject": "again"})
    with pytest.raises(ValueError):
        build(extra_headers={"Bad Name": "x"})
    with pytest.raises(ValueError):
        build(extra_headers=[("X-A:", "x")])


def test_naive_date_is_rejected():
    with pytest.raises(ValueError):
        build(date=datetime(2025, 11, 21, 7, 0))


def test_date_keeps_its_offset():
    berlin = timezone(timedelta(hours=1))
    msg = parse(build(date=datetime(2025, 11, 21, 8, 0, tzinfo=berlin)))
    assert msg["Date"] == "Fri, 21 Nov 2025 08:00:00 +0100"


def test_bodies_choose_a_compact_encoding():
    latin = parse(build(text="plain words\n" * 200))
    assert next(latin.iter_parts())["Content-Transfer-Encoding"] == "quoted-printable"
    cjk = parse(build(text="日本語の文章です。\n" * 200))
    assert next(cjk.iter_parts())["Content-Transfer-Encoding"] == "base64"
    assert texts(cjk)[0] == "日本語の文章です。\n" * 200


def test_body_lines_are_short_and_from_is_protected():
    text = "From the start " + "x" * 70 + "\n" + "word " * 500 + "\nFrom here\n" + "From " + "y" * 71 + "\n"
    raw = build(text=text, html="<p>" + "x" * 5000 + "</p>")
    assert_wire_format(raw)
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert not body.startswith(b"From ") and b"\r\nFrom " not in body
    assert texts(parse(raw))[0] == text


# -- properties -----------------------------------------------------------------------

# Characters with a meaning in headers, mixed with plain and non-ASCII ones.
SPECIALS = ' "\\=?<>@,;:.()[]aé\r\n\x00\t'
header_text = st.one_of(st.text(max_size=300), st.text(alphabet=st.sampled_from(SPECIALS), max_size=100))
# Bodies: arbitrary text, and pieces that matter to quoted-printable and mbox hops.
body_text = st.one_of(
    st.text(max_size=3000),
    st.lists(st.sampled_from(["From ", "x" * 40, "\n", "\r\n", "\r", "=", " ", "\t", "é", ".", "日本"]), max_size=300).map("".join),
)
# Up to 40 UTF-8 bytes: any non-ASCII run fits in one encoded-word.
short_name = st.one_of(st.text(max_size=10), st.text(alphabet=st.sampled_from(SPECIALS), max_size=20))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=header_text, to_name=header_text, from_name=header_text, text=body_text, html=body_text)
def test_any_text_yields_a_clean_parseable_message(subject, to_name, from_name, text, html):
    raw = build(subject=subject, to_name=to_name, from_name=from_name, text=text, html=html)
    assert_wire_format(raw)
    msg = parse(raw)
    assert all_defects(msg) == []
    assert {k.lower() for k in msg.keys()} == BASE_HEADERS | LIST_HEADERS
    assert msg["Subject"] == clean_header_text(subject)
    assert texts(msg) == (clean_body(text), clean_body(html))
    for name, given_name in (("To", to_name), ("From", from_name)):
        (address,) = msg[name].addresses
        expected = clean_header_text(given_name)
        # RFC 2047 decoders (mail clients) get the name back exactly...
        assert rfc2047_display_name(raw, name) == expected
        # ...and Python's parser too, except that it keeps the whitespace between
        # adjacent encoded-words of a phrase (RFC 2047 says to drop it), so it may see
        # extra spaces where a long non-ASCII run had to be split over several words.
        assert "".join(address.display_name.split()) == "".join(expected.split())


@settings(max_examples=200, deadline=None)
@given(to_name=short_name)
def test_short_names_round_trip_exactly_through_the_stdlib_parser(to_name):
    msg = parse(build(to_name=to_name))
    assert all_defects(msg) == []
    assert msg["To"].addresses[0].display_name == clean_header_text(to_name)


@given(st.text(max_size=200))
def test_clean_header_text_never_leaves_a_line_break(value):
    cleaned = clean_header_text(value)
    assert not set(cleaned) & {"\r", "\n", "\x00"}
    assert cleaned == cleaned.strip()
    assert clean_header_text(cleaned) == cleaned


# -- DKIM -----------------------------------------------------------------------------


def _rsa_key_pair(tmp_path) -> tuple[bytes, bytes]:
    """(PEM private key, DER public key) from `cryptography` or the openssl CLI."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("needs the cryptography package or the openssl command to make an RSA key")
        key = tmp_path / "key.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
        public = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
        return key.read_bytes(), public
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, der


def dkim_key_and_dns(tmp_path):
    """(PEM private key, a dkimpy DNS lookup publishing its public key as mail._domainkey.example.org)."""
    pem, public_der = _rsa_key_pair(tmp_path)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)

    def dns(name, timeout=5):
        assert name == b"mail._domainkey.example.org."
        return record

    return pem, dns


def test_dkim_signature_verifies(tmp_path):
    dkim = pytest.importorskip("dkim")
    pem, dns = dkim_key_and_dns(tmp_path)

    raw = build(subject="Nouveautés on pooling", to_name="Zoë")
    signed = sign_dkim(raw, selector="mail", domain="example.org", private_key_pem=pem.decode())
    assert signed.endswith(raw) and signed.startswith(b"DKIM-Signature:")
    assert_wire_format(signed)
    assert dkim.verify(signed, dnsfunc=dns)
    header = parse(signed)["DKIM-Signature"]
    signed_headers = re.search(r"h=([^;]+)", " ".join(str(header).split())).group(1).replace(" ", "").split(":")
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed_headers)
    # Any change after signing breaks it.
    assert not dkim.verify(signed.replace(b"Subject: ", b"Subject: Re: "), dnsfunc=dns)


def test_dkim_rejects_a_bad_key():
    pytest.importorskip("dkim")
    with pytest.raises(ValueError):
        sign_dkim(build(), selector="mail", domain="example.org", private_key_pem="not a key")


def test_trailing_space_at_the_line_limit_stays_within_76_octets():
    """binascii.b2a_qp emits 77 octets here ("=20" at the limit); found by hypothesis."""
    html = "0" * 47 + "===\u0800\u0800 \n"
    raw = build_message(
        from_addr="digest@example.org", from_name=None, to_addr="ada@example.com", to_name=None,
        subject="", text="", html=html, message_id="<x.1@example.org>",
        date=datetime(2025, 11, 21, 7, tzinfo=timezone.utc),
    )
    assert_wire_format(raw)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == html


def test_http_unsubscribe_url_is_listed_without_one_click():
    """A local trial on http:// still gets List-Unsubscribe; one-click (RFC 8058) needs https."""
    message = email.message_from_bytes(build(list_unsubscribe_url="http://localhost:8000/unsubscribe/t"),
                                       policy=email.policy.default)
    assert "<http://localhost:8000/unsubscribe/t>" in str(message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(body_text | st.sampled_from(["\ud800", "\udfff", "\U0001f44d", "\r", "\x00"]), max_size=6),
       eight_bit=st.booleans())
def test_a_body_given_as_utf8_pieces_is_the_same_message(pieces, eight_bit):
    """The composer hands the HTML over as `utf8` bytes of pieces encoded apart (compose.records):
    the message is byte for byte the one the whole text would make."""
    from digest.compose.shells import utf8
    whole = "".join(pieces)
    as_bytes = b"".join(utf8(piece) for piece in pieces)
    assert build(html=as_bytes, text=as_bytes, eight_bit=eight_bit) == build(html=whole, text=whole, eight_bit=eight_bit)
    assert clean_body(as_bytes) == clean_body(whole)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=40))
def test_long_lines_are_found_wherever_they_fall(lines):
    """mail.bodies._lines_fit (hopping newline to newline) agrees with measuring every line."""
    from digest.mail.bodies import MAX_LINE_OCTETS, _lines_fit
    data = b"\n".join(b"x" * n for n in lines)
    assert _lines_fit(data) == (max(lines) <= MAX_LINE_OCTETS)
    for edge in (998, 999, 1000):
        for at in range(0, 1100, 97):
            probe = b"y\n" * (at // 2) + b"z" * edge + b"\n" + b"w" * 10
            assert _lines_fit(probe) == (edge <= MAX_LINE_OCTETS)
