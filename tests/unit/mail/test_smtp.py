"""SmtpConfig and the wire format, without a server (the sender itself: tests/integration/test_sender.py)."""

from __future__ import annotations

import pytest

from digest.config import Settings
from digest.mail.sender import Outgoing
from digest.mail.smtp import SmtpConfig
from digest.mail.smtp_wire import crlf, dot_stuffed, envelope_problem
from digest.ratelimit import Pacer, SlidingWindow


def test_config_from_settings():
    settings = Settings(smtp_host="relay.example.org", smtp_port=587, smtp_security="starttls", smtp_username="digest",
                        smtp_password="s3cret", smtp_pool_size=6, smtp_rate=20, smtp_rate_per_hour=1000, smtp_timeout=15)
    cfg = SmtpConfig.from_settings(settings)
    assert (cfg.host, cfg.port, cfg.security, cfg.username, cfg.password) == ("relay.example.org", 587, "starttls", "digest", "s3cret")
    assert (cfg.pool_size, cfg.rate_per_second, cfg.rate_per_hour, cfg.timeout) == (6, 20, 1000, 15)
    assert "s3cret" not in repr(cfg)


def test_config_limits_the_hour_first_then_the_second():
    limits = SmtpConfig(rate_per_second=20, rate_per_hour=1000).limits()
    assert [type(limit) for limit in limits] == [SlidingWindow, Pacer]
    assert SmtpConfig(rate_per_second=None).limits() == []


@pytest.mark.parametrize("changes", [{"security": "ssl"}, {"pool_size": 0}, {"timeout": 0}])
def test_bad_config_is_refused(changes):
    with pytest.raises(ValueError):
        SmtpConfig(**changes)


@pytest.mark.parametrize("raw, wire", [
    (b"a\nb", b"a\r\nb\r\n"),
    (b"a\r\nb\r\n", b"a\r\nb\r\n"),
    (b"a\rb\r\nc\n", b"a\r\nb\r\nc\r\n"),
])
def test_line_endings_become_crlf(raw, wire):
    assert crlf(raw) == wire


def test_dot_stuffing_doubles_leading_dots_and_ends_the_data():
    assert dot_stuffed(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert dot_stuffed(b"plain\r\n") == b"plain\r\n.\r\n"


@pytest.mark.parametrize("sender, recipients, problem", [
    ("a@example.org", (), "no recipients"),
    ("a@example.org", ("b@example.org>\r\nRCPT TO:<x@y.z",), "recipient address cannot be sent"),
    ("a@example.org", ("nodomain",), "has no domain"),
    ("ä@example.org", ("b@example.org",), "sender address cannot be sent"),
    ("a@example.org", ("b@example.org",), ""),
])
def test_envelope_problems_are_found_before_any_io(sender, recipients, problem):
    found = envelope_problem(Outgoing(1, sender, recipients, b""))
    assert (problem in found) if problem else found == ""
