"""Settings: environment over digest.toml, secrets from files, one-line errors."""

from __future__ import annotations

import pytest

from digest.config import DEMO_SECRET, load_settings
from digest.errors import ConfigError


def test_toml_file_in_the_working_directory_is_read(tmp_path, monkeypatch):
    (tmp_path / "digest.toml").write_text('smtp_port = 2525\nfrom = "Team <team@example.org>"\nbase_url = "https://d.example.org/"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.smtp_port, settings.from_, settings.base_url) == (2525, "Team <team@example.org>", "https://d.example.org")


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    (tmp_path / "digest.toml").write_text("smtp_port = 2525\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_SMTP_PORT", "587")
    monkeypatch.setenv("DIGEST_FROM", "Env <env@example.org>")
    settings = load_settings()
    assert (settings.smtp_port, settings.from_) == (587, "Env <env@example.org>")


KEY = "kP3v9-xQ2mZr7sLw4nTb8yHc1dFg6jVa0eUo5iRt"  # 40 random-looking bytes


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    (tmp_path / "key").write_text(KEY + "\n")
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert load_settings().secret() == KEY
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()


@pytest.mark.parametrize("name,value,expected", [
    ("DIGEST_SMTP_PORT", "lots", "DIGEST_SMTP_PORT"),
    ("DIGEST_SMTP_SECURITY", "ssl", "DIGEST_SMTP_SECURITY"),
    ("DIGEST_DATABASE_URL", "mysql://x", "DIGEST_DATABASE_URL"),
    ("DIGEST_BASE_URL", "digest.example.org", "DIGEST_BASE_URL"),
])
def test_bad_values_fail_with_one_line_naming_the_setting(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_key_in_the_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "digest.toml").write_text("smtp_prot = 25\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="smtp_prot"):
        load_settings()


def test_sending_needs_a_secret_key():
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY"):
        load_settings().secret()
    assert load_settings().secret(allow_demo=True)


# ---- secrets (issue 15, item 2) -------------------------------------------------------------

OLD_EXAMPLE = "change-me-to-a-long-random-string-before-any-real-use"  # what deploy/ used to ship


@pytest.mark.parametrize("value,why", [
    ("x", "1 bytes long"),
    ("serve-test-secret", "17 bytes long"),
    (OLD_EXAMPLE, "example or demo value"),
    (DEMO_SECRET, "example or demo value"),
    ("CHANGEME-" + KEY, "example or demo value"),
    ("ab" * 20, "too repetitive"),
])
def test_weak_or_example_keys_are_refused_with_how_to_make_one(monkeypatch, value, why):
    monkeypatch.setenv("DIGEST_SECRET_KEY", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert why in message and "secrets.token_urlsafe(48)" in message and "DIGEST_SECRET_KEY" in message
    assert value not in message and "\n" not in message  # never echoes the secret


def test_the_shipped_example_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "key").write_text(OLD_EXAMPLE)
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY_FILE is an example"):
        load_settings()


def test_an_empty_variable_does_not_hide_the_file(tmp_path, monkeypatch):
    (tmp_path / "key").write_text(KEY)
    monkeypatch.setenv("DIGEST_SECRET_KEY", "")
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert load_settings().secret() == KEY


def test_an_empty_key_file_or_a_value_and_a_file_are_refused(tmp_path, monkeypatch):
    (tmp_path / "key").write_text("\n")
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY_FILE is empty"):
        load_settings()
    (tmp_path / "key").write_text(KEY)
    monkeypatch.setenv("DIGEST_SECRET_KEY", KEY[::-1])
    with pytest.raises(ConfigError, match="both DIGEST_SECRET_KEY and DIGEST_SECRET_KEY_FILE"):
        load_settings()


def test_key_rotation_signs_with_the_new_key_and_accepts_the_old(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", KEY)
    monkeypatch.setenv("DIGEST_SECRET_KEY_OLD", KEY[::-1])
    assert load_settings().signing_keys() == (KEY, KEY[::-1])
    monkeypatch.setenv("DIGEST_SECRET_KEY_OLD", "short")
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY_OLD is 5 bytes"):
        load_settings()
    monkeypatch.delenv("DIGEST_SECRET_KEY")
    monkeypatch.setenv("DIGEST_SECRET_KEY_OLD", KEY[::-1])
    with pytest.raises(ConfigError, match="without DIGEST_SECRET_KEY"):
        load_settings()


def test_a_weak_metrics_token_is_refused(monkeypatch):
    monkeypatch.setenv("DIGEST_METRICS_TOKEN", "letmein")
    with pytest.raises(ConfigError, match="DIGEST_METRICS_TOKEN is 7 bytes"):
        load_settings()


# ---- addresses and domains (issue 15, item 5) ----------------------------------------------------


def test_an_idn_from_domain_is_encoded_to_punycode(monkeypatch):
    monkeypatch.setenv("DIGEST_FROM", "Bücherwurm Digest <digest@bücher.example>")
    assert load_settings().from_ == "Bücherwurm Digest <digest@xn--bcher-kva.example>"


@pytest.mark.parametrize("value,expected", [
    ("a@example.org, b@example.org", "exactly one address, found 2"),
    ("Team: a@example.org, b@example.org;", "exactly one address, found 2"),
    ("digest", "is not an address"),
    ("Digest <digest@example.org>\r\nBcc: all@example.org", "one line"),
    ("zoë@example.org", "plain ASCII"),
    ("Digest <digest@-bad-.org>", "not a domain name"),
])
def test_from_must_be_exactly_one_valid_address(monkeypatch, value, expected):
    monkeypatch.setenv("DIGEST_FROM", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "DIGEST_FROM" in str(caught.value) and expected in str(caught.value)


def test_hosts_and_domains_are_checked_and_made_ascii(monkeypatch):
    monkeypatch.setenv("DIGEST_SMTP_HOST", "smtp.bücher.example")
    monkeypatch.setenv("DIGEST_DKIM_DOMAIN", "Bücher.Example")
    monkeypatch.setenv("DIGEST_BASE_URL", "https://Digest.Bücher.example/papers/")
    monkeypatch.setenv("DIGEST_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    settings = load_settings()
    assert settings.smtp_host == "smtp.xn--bcher-kva.example" and settings.dkim_domain == "xn--bcher-kva.example"
    assert settings.base_url == "https://digest.xn--bcher-kva.example/papers"
    assert settings.trusted_proxies == "127.0.0.1/32,10.0.0.0/8"
    monkeypatch.setenv("DIGEST_SMTP_HOST", "smtp_relay")  # a Docker service name: DNS resolves it
    monkeypatch.setenv("DIGEST_DKIM_SELECTOR", "s1_2026")
    assert (load_settings().smtp_host, load_settings().dkim_selector) == ("smtp_relay", "s1_2026")
    for name, value in (("DIGEST_SMTP_HOST", "smtp host"), ("DIGEST_DKIM_DOMAIN", "a_b.example"),
                        ("DIGEST_BASE_URL", "https://user:pw@digest.example.org"), ("DIGEST_TRUSTED_PROXIES", "proxy")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            load_settings()
        monkeypatch.delenv(name)
