"""One `Settings` object: `DIGEST_*` environment variables over an optional `digest.toml`.

Secrets may come from a file (`DIGEST_SMTP_PASSWORD_FILE`, `DIGEST_SECRET_KEY_FILE`), so
they never have to sit in the environment of every process or in the repository. An empty
variable counts as unset (so `DIGEST_SECRET_KEY=` never hides `DIGEST_SECRET_KEY_FILE`);
setting both a value and its file is refused. Bad values fail at start with one line naming
the setting (`load_settings` raises ConfigError), never echoing a secret.

The signing key is checked at start (`secret_problem`): empty, an example or demo value,
under 32 bytes or too repetitive is refused with how to make a good one.
`DIGEST_SECRET_KEY_OLD` keeps links signed with the previous key working during a rollover.
Addresses and domains are checked too and made ASCII (`digest.addresses`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from digest.addresses import ascii_domain, host_name, networks, one_mailbox, web_base_url
from digest.errors import ConfigError

DEMO_SECRET = "demo-secret-not-for-production"
MIN_SECRET_BYTES = 32
MAKE_SECRET = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
# Values that shipped as examples somewhere (the first was deploy/secret_key.example):
# anyone can read them, so anyone could sign links with them.
_EXAMPLE_SECRETS = frozenset({DEMO_SECRET, "change-me-to-a-long-random-string-before-any-real-use"})
_EXAMPLE_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "not-for-production", "your-secret")
# Secret settings, each of which may come from `<name>_file` instead.
_SECRETS = ("smtp_password", "secret_key", "secret_key_old", "imap_password", "metrics_token")


def secret_problem(value: str) -> str | None:
    """Why `value` is not a usable signing key (None: it is)."""
    if not value.strip():
        return "is empty"
    if value in _EXAMPLE_SECRETS or any(marker in value.lower() for marker in _EXAMPLE_MARKERS):
        return "is an example or demo value that anyone can read"
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"is {len(value.encode('utf-8'))} bytes long; at least {MIN_SECRET_BYTES} are needed"
    if len(set(value)) < 8:
        return "is too repetitive to be random"
    return None


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

    model_config = SettingsConfigDict(env_prefix="DIGEST_", extra="forbid", frozen=True, populate_by_name=True,
                                      env_ignore_empty=True)

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
    # The previous key during a rollover: links and forms it signed still verify.
    secret_key_old: SecretStr | None = None
    secret_key_old_file: Path | None = None
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_file: Path | None = None
    retry_max_age_hours: float = Field(default=48.0, gt=0)
    lease_seconds: int = Field(default=300, ge=1)
    # Web
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    subscribe_rate_per_hour: int = Field(default=20, ge=1)
    # Reverse proxies whose X-Forwarded-For/-Proto are believed: IPs or CIDR networks,
    # comma-separated. Default none: the socket's peer is the client.
    trusted_proxies: str = ""
    # `GET /metrics` needs "Authorization: Bearer <token>"; unset, /metrics is off.
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None
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
        return web_base_url(value)

    @field_validator("from_")
    @classmethod
    def _one_from(cls, value: str) -> str:
        return one_mailbox(value)

    @field_validator("smtp_host", "host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_name(value)

    @field_validator("dkim_domain")
    @classmethod
    def _dkim_domain(cls, value: str | None) -> str | None:
        return ascii_domain(value) if value else None

    @field_validator("dkim_selector")
    @classmethod
    def _dkim_selector(cls, value: str | None) -> str | None:
        return ascii_domain(value, underscores=True) if value else None  # selectors are DNS labels

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return ",".join(str(network) for network in networks(value))

    @model_validator(mode="after")
    def _secret_files(self) -> "Settings":
        for name in _SECRETS:
            path = getattr(self, f"{name}_file")
            if path is None:
                continue
            env = f"DIGEST_{name.upper()}"
            if getattr(self, name) is not None:
                raise ConfigError(f"both {env} and {env}_FILE are set: keep one")
            try:
                secret = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigError(f"{env}_FILE: cannot read {path}: {err.strerror}") from None
            object.__setattr__(self, name, SecretStr(secret))
        return self

    @model_validator(mode="after")
    def _strong_secrets(self) -> "Settings":
        for name in ("secret_key", "secret_key_old", "metrics_token"):
            value = getattr(self, name)
            problem = None if value is None else secret_problem(value.get_secret_value())
            if problem:
                source = f"DIGEST_{name.upper()}" + ("_FILE" if getattr(self, f"{name}_file") else "")
                raise ConfigError(f"{source} {problem}: {MAKE_SECRET}")
        if self.secret_key_old is not None and self.secret_key is None:
            raise ConfigError("DIGEST_SECRET_KEY_OLD is set without DIGEST_SECRET_KEY: set the new key too")
        return self

    @property
    def trusted_networks(self) -> tuple:
        return networks(self.trusted_proxies)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self, *, allow_demo: bool = False) -> str:
        """The signing key; outside the demo a missing key is a configuration error."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if allow_demo:
            return DEMO_SECRET
        raise ConfigError(f"DIGEST_SECRET_KEY is not set: set it (or DIGEST_SECRET_KEY_FILE); {MAKE_SECRET}")

    def signing_keys(self, *, allow_demo: bool = False) -> tuple[str, ...]:
        """(current key, previous key if rolling over): sign with the first, accept any."""
        old = (self.secret_key_old.get_secret_value(),) if self.secret_key_old is not None else ()
        return (self.secret(allow_demo=allow_demo), *old)


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
        env = field.upper() if field.upper().startswith("DIGEST_") else "DIGEST_" + field.upper().rstrip("_")
        message = str(first["msg"]).removeprefix("Value error, ")
        shown = "" if field.split(".")[0] in _SECRETS + ("imap_url",) else f" (got {first.get('input')!r})"
        raise ConfigError(f"invalid setting {env}: {message}{shown}") from None
