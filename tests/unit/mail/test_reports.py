"""classify(): DSN bounces, ARF complaints, mailto unsubscribes and everything else."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.enums import MailEventKind
from digest.mail.message_ids import delivery_id_of, make_message_id
from digest.mail.reports import classify, report_key
from tests.mailbox_samples import SAMPLES, fill

OURS = make_message_id(42, "example.org", salt="install-salt")
ADA = "ada@example.com"


def sample(name: str, **kwargs) -> bytes:
    return fill(name, message_id=kwargs.pop("message_id", OURS), recipient=kwargs.pop("recipient", ADA), **kwargs)


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("dsn-hard.eml", MailEventKind.HARD_BOUNCE, "5.1.1"),
        ("dsn-multi.eml", MailEventKind.HARD_BOUNCE, "5.0.0"),
        ("dsn-soft.eml", MailEventKind.SOFT_BOUNCE, "4.0.0"),
        ("dsn-delayed.eml", MailEventKind.SOFT_BOUNCE, "4.4.1"),
    ],
)
def test_a_dsn_is_a_bounce_naming_the_recipient_and_our_message(name, kind, status):
    report = classify(sample(name))
    assert report.kind == kind and report.status == status
    assert report.recipient == ADA
    assert report.candidate_message_ids[0] == OURS
    assert delivery_id_of(report.candidate_message_ids[0], salt="install-salt") == 42


def test_a_multi_recipient_dsn_is_decided_by_its_permanent_failure_not_its_first_block():
    report = classify(sample("dsn-multi.eml"))
    assert [r.action for r in report.recipients] == ["delayed", "failed", "failed"]
    assert report.recipient == ADA and "not a registered gateway user" in report.detail


def test_an_arf_abuse_report_is_a_complaint_about_our_message():
    report = classify(sample("arf-abuse.eml"))
    assert report.kind == MailEventKind.COMPLAINT
    assert report.recipient == ADA and report.candidate_message_ids == (OURS,)
    assert "abuse" in report.detail


def test_a_redacted_complaint_keeps_the_reported_recipient_and_names_no_message():
    report = classify(sample("arf-redacted.eml"))
    assert report.kind == MailEventKind.COMPLAINT
    assert report.recipient == ADA and report.candidate_message_ids == ()


@pytest.mark.parametrize("feedback_type", ["auth-failure", "not-spam", "other", ""])
def test_feedback_reports_that_are_not_complaints_are_left_for_a_person(feedback_type):
    raw = sample("arf-abuse.eml").replace(b"Feedback-Type: abuse", f"Feedback-Type: {feedback_type}".encode())
    report = classify(raw)
    assert report.kind is None and "feedback report" in report.detail
    assert classify(sample("arf-auth-failure.eml")).kind is None


def test_a_mailto_unsubscribe_names_its_sender():
    report = classify(sample("mailto-unsubscribe.eml"))
    assert report.kind == MailEventKind.UNSUBSCRIBE and report.recipient == ADA


@pytest.mark.parametrize("subject", ["Unsubscribe", "  UNSUBSCRIBE ", "=?utf-8?q?unsubscribe?="])
def test_the_unsubscribe_subject_is_matched_whatever_its_case_or_encoding(subject):
    raw = sample("mailto-unsubscribe.eml").replace(b"Subject: unsubscribe", f"Subject: {subject}".encode())
    assert classify(raw).kind == MailEventKind.UNSUBSCRIBE


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: unsubscribe", b"Subject: Re: unsubscribe"),  # a reply is for a person
        (b"Subject: unsubscribe", b"Subject: please unsubscribe me"),
        (b"From: Ada Lovelace <" + ADA.encode() + b">", b"From: a@example.com, b@example.com"),
        (b"From: Ada Lovelace <" + ADA.encode() + b">", b"From: nobody"),
        (b"Subject: unsubscribe", b"Subject: unsubscribe\r\nAuto-Submitted: auto-replied"),
    ],
)
def test_other_mail_mentioning_unsubscribe_is_left_for_a_person(old, new):
    raw = sample("mailto-unsubscribe.eml").replace(old, new)
    assert classify(raw).kind is None


@pytest.mark.parametrize("name", ["out-of-office.eml", "garbage.eml", "arf-auth-failure.eml"])
def test_replies_dmarc_reports_and_garbage_are_not_ours(name):
    report = classify(sample(name))
    assert report.kind is None and report.detail


def test_a_dsn_that_reports_only_success_is_not_a_bounce():
    raw = sample("dsn-delayed.eml").replace(b"Action: delayed", b"Action: delivered").replace(b"Status: 4.4.1", b"Status: 2.0.0")
    report = classify(raw)
    assert report.kind is None and "without a failure" in report.detail


def test_a_block_without_status_takes_its_class_from_the_smtp_reply():
    raw = sample("dsn-hard.eml").replace(b"Status: 5.1.1\r\n", b"")
    report = classify(raw)
    assert report.kind == MailEventKind.HARD_BOUNCE and report.status == "5.0.0"


def test_a_base64_encoded_delivery_status_part_is_read():
    raw = sample("dsn-hard.eml")
    head, rest = raw.split(b"Content-Type: message/delivery-status\r\n\r\n", 1)
    fields, tail = rest.split(b"\r\n--4F1C3200A1", 1)
    encoded = base64.encodebytes(fields + b"\r\n").replace(b"\n", b"\r\n")
    raw = (head + b"Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + encoded + b"\r\n--4F1C3200A1" + tail)
    report = classify(raw)
    assert report.kind == MailEventKind.HARD_BOUNCE and report.status == "5.1.1" and report.recipient == ADA


def test_a_bounce_without_the_original_falls_back_to_in_reply_to():
    raw = sample("dsn-hard.eml")
    raw = raw.split(b"--4F1C3200A1.1796112012/mx.example.net\r\nContent-Description: Undelivered")[0]
    raw = raw.replace(b"Auto-Submitted: auto-replied", b"Auto-Submitted: auto-replied\r\nIn-Reply-To: " + OURS.encode())
    assert classify(raw).candidate_message_ids == (OURS,)


def test_report_key_is_the_digest_of_the_message_id_or_of_the_bytes():
    raw = sample("arf-abuse.eml")
    expected = hashlib.sha256(b"<arf-20261129-224036-0001@mailbox.example.com>").hexdigest()
    assert classify(raw).report_key == expected
    no_id = sample("garbage.eml")
    assert classify(no_id).report_key == hashlib.sha256(no_id).hexdigest() == report_key(None, no_id)
    assert classify(sample("dsn-hard.eml", tag="1")).report_key != classify(sample("dsn-hard.eml", tag="2")).report_key


def test_every_sample_is_documented():
    readme = (SAMPLES / "README.md").read_text()
    assert all(path.name in readme for path in SAMPLES.glob("*.eml"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_classify_never_raises_on_random_bytes(raw):
    report = classify(raw)
    assert report.kind is None or report.kind in MailEventKind
    assert len(report.report_key) == 64


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_classify_never_raises_on_damaged_reports(data):
    raw = bytearray(sample(data.draw(st.sampled_from(sorted(p.name for p in SAMPLES.glob("*.eml"))))))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at:at + data.draw(st.integers(0, 40))] = data.draw(st.binary(max_size=20))
    report = classify(bytes(raw))
    assert isinstance(report.detail, str)
