"""Settings: environment over digest.toml, secrets from files, one-line errors."""

from __future__ import annotations

import pytest

from digest.config import load_settings
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


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    (tmp_path / "key").write_text("s3cret\n")
    monkeypatch.setenv("DIGEST_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert load_settings().secret() == "s3cret"
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
