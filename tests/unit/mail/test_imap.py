"""DIGEST_IMAP_URL parsing (the session itself is tested against dovecot in tests/integration)."""

from __future__ import annotations

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from digest.mail.imap import ImapConfig, imap_config


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("imaps://u:p@imap.example.org/INBOX", "tls", 993),
        ("imaps://u:p@imap.example.org:1993/INBOX", "tls", 1993),
        ("imap://u:p@imap.example.org/INBOX", "starttls", 143),
        ("imap://u:p@127.0.0.1:1143/INBOX?security=none", "none", 1143),
    ],
)
def test_scheme_and_port(url, security, port):
    config = ImapConfig.from_url(url)
    assert (config.security, config.port) == (security, port)


def test_user_folder_and_password_are_percent_decoded():
    config = ImapConfig.from_url("imaps://digest%40example.org:p%40ss%3Aw%2Frd@imap.example.org/Bounces%20In")
    assert config.username == "digest@example.org" and config.password == "p@ss:w/rd"
    assert config.folder == "Bounces In"
    assert ImapConfig.from_url("imaps://u:p@imap.example.org").folder == "INBOX"


def test_a_password_given_apart_wins_and_is_never_displayed():
    config = ImapConfig.from_url("imaps://u:in-url@imap.example.org/INBOX", password="from-file")
    assert config.password == "from-file"
    assert "from-file" not in config.display() and "in-url" not in config.display()
    assert config.display() == "imaps://u@imap.example.org:993/INBOX"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://u:p@imap.example.org/INBOX", "must start with imaps://"),
        ("imap://u:p@imap.example.org/INBOX?security=tls-please", "security must be"),
        ("imaps://imap.example.org/INBOX", "needs a user and a host"),
        ("imaps://u@imap.example.org/INBOX", "no IMAP password"),
        ("imaps://u:p@imap.example.org:99999/INBOX", "invalid port"),
        ("imaps://u:p@imap.example.org/Entw%C3%BCrfe", "printable ASCII"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        ImapConfig.from_url(url)
    assert ":p@" not in str(caught.value)


def test_imap_config_from_settings(monkeypatch, tmp_path):
    assert imap_config(load_settings()) is None
    monkeypatch.setenv("DIGEST_IMAP_URL", "")
    assert imap_config(load_settings()) is None
    secret = tmp_path / "imap_password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("DIGEST_IMAP_URL", "imaps://digest@imap.example.org/INBOX")
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD_FILE", str(secret))
    config = imap_config(load_settings())
    assert config is not None and config.password == "s3cret" and config.host == "imap.example.org"
    assert "s3cret" not in repr(load_settings())
