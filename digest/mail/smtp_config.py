"""How to reach the SMTP relay and how hard to push it (the settings `mail.smtp.SmtpSender` takes)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from digest.ratelimit import Pacer, SlidingWindow

if TYPE_CHECKING:
    from digest.config import Settings

__all__ = ["Security", "SmtpConfig"]

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the relay and how hard to push it.

    security: "none" (plain, no opportunistic STARTTLS), "starttls" (required), or
        "tls" (implicit TLS, usually port 465).
    username/password: AUTH after connecting when username is set.
    rate_per_second / rate_per_hour: global limits over all connections (None = off).
    timeout: seconds for connecting and for each reply, including the final one.
    validate_certs / tls_context: certificate checking; tests pass validate_certs=False
        or their own context.
    local_hostname: the EHLO name; None = this host's FQDN (looked up once).
    connect_backoff / connect_backoff_max: after a failed connect, later connects wait
        this long, doubling up to the maximum, so a down relay is not hammered.
    """

    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    pool_size: int = 4
    rate_per_second: float | None = 50.0
    rate_per_hour: int | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)
    local_hostname: str | None = None
    connect_backoff: float = 0.1
    connect_backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, got {self.security!r}")
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @classmethod
    def from_settings(cls, settings: "Settings") -> "SmtpConfig":
        """The SMTP part of the application settings."""
        password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username or None,
            password=password,
            pool_size=settings.smtp_pool_size,
            rate_per_second=settings.smtp_rate,
            rate_per_hour=settings.smtp_rate_per_hour,
            timeout=settings.smtp_timeout,
        )

    def limits(self) -> list[Pacer | SlidingWindow]:
        """The configured rate limits, the slow (hourly) one first."""
        limits: list[Pacer | SlidingWindow] = []
        if self.rate_per_hour:
            limits.append(SlidingWindow(self.rate_per_hour, window=3600.0))
        if self.rate_per_second:
            limits.append(Pacer.per_second(self.rate_per_second))
        return limits
