"""One `Settings` object: `DIGEST_*` environment variables over an optional `digest.toml`.

Secrets may come from a file (`DIGEST_SMTP_PASSWORD_FILE`, `DIGEST_SECRET_KEY_FILE`), so
they never have to sit in the environment of every process or in the repository. Bad
values fail at start with one line naming the setting (`load_settings` raises ConfigError).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from digest.errors import ConfigError

DEMO_SECRET = "demo-secret-not-for-production"


def default_database_url() -> str:
    """A SQLite file in the user data dir, or ./digest.db when that dir is not writable."""
    try:
        folder = Path(user_data_dir("paper-digest", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.touch()
        probe.unlink()
        return f"sqlite:///{folder / 'digest.db'}"
    except OSError:
        return "sqlite:///digest.db"


def config_file() -> Path | None:
    """`DIGEST_CONFIG` if set, else ./digest.toml when it exists."""
    named = os.environ.get("DIGEST_CONFIG")
    if named:
        return Path(named)
    local = Path("digest.toml")
    return local if local.exists() else None


class Settings(BaseSettings):
    """Every setting of the service. Environment names are `DIGEST_<FIELD>` in capitals."""

    model_config = SettingsConfigDict(env_prefix="DIGEST_", extra="forbid", frozen=True, populate_by_name=True)

    database_url: str = Field(default_factory=default_database_url)
    # Ingest
    max_snapshot_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    fetch_timeout: float = Field(default=30.0, gt=0)
    # Email
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    smtp_rate: float = Field(default=50.0, gt=0, description="messages per second, all connections")
    smtp_rate_per_hour: int | None = Field(default=None, gt=0)
    smtp_timeout: float = Field(default=30.0, gt=0)
    # "from" is a Python keyword: the field is from_, read as DIGEST_FROM or `from` in digest.toml.
    from_: str = Field(default="Paper Digest <digest@localhost>",
                       validation_alias=AliasChoices("DIGEST_FROM", "from", "from_"))
    base_url: str = "http://localhost:8000"
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_file: Path | None = None
    retry_max_age_hours: float = Field(default=48.0, gt=0)
    lease_seconds: int = Field(default=300, ge=1)
    # Web
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    subscribe_rate_per_hour: int = Field(default=20, ge=1)
    log_format: Literal["text", "json"] = "text"
    # Mailbox (bounces, complaints, mailto unsubscribes): the envelope sender's mailbox,
    # imaps://user:password@host/INBOX; the password may come from the _FILE instead.
    imap_url: SecretStr | None = None
    imap_password: SecretStr | None = None
    imap_password_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _secret_files(self) -> "Settings":
        for name in ("smtp_password", "secret_key", "imap_password"):
            path = getattr(self, f"{name}_file")
            if path is not None and getattr(self, name) is None:
                try:
                    secret = path.read_text(encoding="utf-8").strip()
                except OSError as err:
                    raise ValueError(f"{name}_file: cannot read {path}: {err.strerror}") from None
                object.__setattr__(self, name, SecretStr(secret))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self, *, allow_demo: bool = False) -> str:
        """The signing key; outside the demo a missing key is a configuration error."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if allow_demo:
            return DEMO_SECRET
        raise ConfigError("DIGEST_SECRET_KEY is not set: set it (or DIGEST_SECRET_KEY_FILE) to a long random string")


def load_settings(**overrides: object) -> Settings:
    """Build Settings or raise ConfigError with one line naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        if first["type"] == "extra_forbidden":
            where = config_file() or "the settings"
            raise ConfigError(f"unknown setting {field!r} in {where} (see deploy/digest.env.example for the names)") from None
        env = "DIGEST_" + field.upper().rstrip("_")
        raise ConfigError(f"invalid setting {env}: {first['msg']} (got {first.get('input')!r})") from None
