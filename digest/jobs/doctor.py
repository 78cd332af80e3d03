"""`digest doctor`: check a deployment the way Django's `check --deploy` does.

Each check returns `Finding`s: what was looked at, whether it is fine (`ok`), worth a look
(`warning`) or wrong (`error`), and for anything not fine the one thing to do about it.
`run_checks` runs them all: settings and secrets, the public URL, proxies and metrics
here; the database (reachable, migrated, writable); and, unless `offline`, the SMTP relay
(reachable, TLS, login) and the From domain's SPF / DKIM / DMARC records in DNS
(`jobs.doctor_mail`). Read-only: nothing is written that outlives the check.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from digest.config import MAKE_SECRET, Settings
from digest.errors import DigestError
from digest.jobs.common import utcnow
from digest.store.db import current_revision, head_revision, make_engine
from digest.store.tables import rate_events


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    check: str  # what was checked, e.g. "secret key", "SPF"
    level: Level
    message: str  # what was found
    fix: str = ""  # what to do (empty when nothing needs doing)

    def as_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


def ok(check: str, message: str) -> Finding:
    return Finding(check=check, level=Level.OK, message=message)


def warning(check: str, message: str, fix: str) -> Finding:
    return Finding(check=check, level=Level.WARNING, message=message, fix=fix)


def error(check: str, message: str, fix: str) -> Finding:
    return Finding(check=check, level=Level.ERROR, message=message, fix=fix)


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_secret(settings: Settings) -> list[Finding]:
    """The signing key is set (its strength was checked when the settings loaded)."""
    if settings.secret_key is None:
        return [error("secret key", "DIGEST_SECRET_KEY is not set: links and forms cannot be signed",
                      f"set DIGEST_SECRET_KEY_FILE to a file holding a random key; {MAKE_SECRET}")]
    found = [ok("secret key", "set, long and not an example value")]
    if settings.secret_key_old is not None:
        found.append(warning("secret key", "DIGEST_SECRET_KEY_OLD is set: links signed with the previous key still work",
                             "remove it once the rollover is over (manage links last 60 days, unsubscribe links a "
                             "year: keep it as long as old emails' links should keep working)"))
    return found


def check_base_url(settings: Settings) -> list[Finding]:
    url = settings.base_url
    host = urlsplit(url).hostname or ""
    if url.startswith("https://"):
        return [ok("base URL", f"{url} (https)")]
    if host in _LOCAL_HOSTS:
        return [warning("base URL", f"{url} is a local http address: links in emails work only on this machine",
                        "set DIGEST_BASE_URL to the public https:// address of the site")]
    return [error("base URL", f"{url} is plain http: the links in emails (manage, unsubscribe) travel unencrypted",
                  "serve the site over https and set DIGEST_BASE_URL=https://...")]


def check_web(settings: Settings) -> list[Finding]:
    """Proxies and metrics: how requests are attributed and who can read /metrics."""
    found = []
    if settings.metrics_token is None:
        found.append(ok("metrics", "/metrics is off (no DIGEST_METRICS_TOKEN)"))
    else:
        found.append(ok("metrics", "/metrics needs the bearer token DIGEST_METRICS_TOKEN"))
    behind_proxy = settings.base_url.startswith("https://") and settings.host in _LOCAL_HOSTS
    if settings.trusted_proxies:
        found.append(ok("proxies", f"X-Forwarded-For is believed only from {settings.trusted_proxies}"))
    elif behind_proxy:
        found.append(warning("proxies", "the app listens on a local address behind an https site, but no proxy is "
                             "trusted: rate limits will count every visitor as the proxy",
                             "set DIGEST_TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1)"))
    return found


def check_from(settings: Settings) -> list[Finding]:
    domain = from_domain(settings)
    if domain in ("localhost",) or domain.endswith((".localhost", ".example", ".test", ".invalid", ".local")) \
            or domain in ("example.org", "example.com", "example.net"):
        return [error("From address", f"{settings.from_} uses the reserved domain {domain}: receivers reject it",
                      "set DIGEST_FROM to an address at a domain you control, e.g. 'Paper Digest <digest@your.org>'")]
    return [ok("From address", settings.from_)]


def from_domain(settings: Settings) -> str:
    return settings.from_.rsplit("@", 1)[-1].rstrip(">").strip().lower()


def check_database(settings: Settings) -> list[Finding]:
    """Reachable, at the newest schema, and writable (a write rolled back)."""
    url = settings.database_url
    try:
        engine = make_engine(url)
    except DigestError as err:
        return [error("database", str(err), "fix DIGEST_DATABASE_URL, or run `digest db upgrade` to create it")]
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            if revision != head_revision():
                return [error("database", f"schema revision {revision or 'none'}, newest is {head_revision()}",
                              "run `digest db upgrade`")]
            conn.rollback()  # end the reading transaction
            probe = conn.begin()  # a real write, always rolled back
            try:
                conn.execute(insert(rate_events).values(bucket="doctor", key="probe", at=utcnow()))
            finally:
                probe.rollback()
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return [error("database", f"cannot use {engine.url!r}: {reason}",
                      "check that the database runs, the URL and credentials, and that the user may write")]
    finally:
        engine.dispose()
    found = [ok("database", f"{engine.url!r}: reachable, up to date, writable")]
    return found + _sqlite_files(url)


def _sqlite_files(url: str) -> list[Finding]:
    """SQLite writes a -wal and a -shm file beside the database: its folder must be writable."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return []
    folder = Path(parsed.database).expanduser().resolve().parent
    if not os.access(folder, os.W_OK):
        return [error("database", f"the folder {folder} is not writable: SQLite cannot create its journal files",
                      f"let the service's user write to {folder}")]
    return []


def run_checks(settings: Settings, *, offline: bool = False, resolver=None) -> list[Finding]:
    """Every check, in the order an operator would fix things. `offline` skips SMTP and DNS;
    `resolver` (a dns.resolver.Resolver) replaces the system's, for tests."""
    from digest.jobs.doctor_mail import check_dns, check_smtp

    found = [*check_secret(settings), *check_base_url(settings), *check_web(settings), *check_from(settings),
             *check_database(settings)]
    if offline:
        found.append(Finding(check="SMTP and DNS", level=Level.SKIPPED, message="not checked (--offline)"))
        return found
    return found + check_smtp(settings) + check_dns(settings, resolver=resolver)


def settings_problem(problem: str) -> Finding:
    """The finding for settings that do not load at all (the other checks need them)."""
    return error("settings", problem, "fix the setting named above (see deploy/digest.env.example)")


def worst(findings: list[Finding]) -> Level:
    levels = {finding.level for finding in findings}
    return Level.ERROR if Level.ERROR in levels else Level.WARNING if Level.WARNING in levels else Level.OK
