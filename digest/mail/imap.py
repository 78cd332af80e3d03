"""The service's mailbox over IMAP (stdlib imaplib): IMAPS, STARTTLS, or plain when asked.

`DIGEST_IMAP_URL` names it: `imaps://user:pass@host[:port]/INBOX` (TLS from the first byte,
port 993), `imap://user:pass@host/INBOX` (STARTTLS, required, port 143), or
`imap://...?security=none` (plaintext: only for a server on the same host or a test).
The password may instead come from `DIGEST_IMAP_PASSWORD` / `DIGEST_IMAP_PASSWORD_FILE`.

Marking: a handled message gets the keyword `$DigestProcessed` and `\\Seen`; a message
left for a person gets `$DigestSkipped` only, so it stays unread in their client. The
search for new work is `UNKEYWORD $DigestProcessed UNKEYWORD $DigestSkipped`, so neither is
read twice, whoever else reads the mailbox. Keywords rather than moving messages to a
folder: one atomic UID STORE, no folder to create, no MOVE/UIDPLUS extension needed, and
nothing is expunged, so a person still finds every report where the MTA put it. A server
that allows no keywords (PERMANENTFLAGS without `\\*`, e.g. Exchange) falls back to
`\\Seen` alone: handled mail is marked read, mail left for a person is read again each run
(harmless: it changes nothing).
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from digest.config import Settings
from digest.errors import ConfigError, DigestError

log = logging.getLogger("digest.mailbox")

PROCESSED = "$DigestProcessed"
SKIPPED = "$DigestSkipped"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a DSN quoting a whole digest is ~50 KB; bigger is not a report
_PORTS = {"tls": 993, "starttls": 143, "none": 143}
_ASTRING_SAFE = re.compile(r"[A-Za-z0-9!#$&'+,\-./:;<=>?@\[\]^_`|~]+")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxError(DigestError):
    """The mailbox cannot be reached, logged into or read."""

    exit_code = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapConfig:
    host: str
    port: int
    security: str  # "tls", "starttls" or "none"
    username: str
    password: str
    folder: str = "INBOX"
    timeout: float = 60.0

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, timeout: float = 60.0) -> ImapConfig:
        """Parse `DIGEST_IMAP_URL`; ConfigError naming the problem (never the password)."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("imap", "imaps"):
            raise ConfigError("DIGEST_IMAP_URL must start with imaps:// (or imap:// for STARTTLS)")
        options = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
        security = "tls" if scheme == "imaps" else options.get("security", "starttls")
        if security not in _PORTS:
            raise ConfigError("DIGEST_IMAP_URL: security must be starttls or none")
        try:
            port = parts.port or _PORTS[security]
        except ValueError:
            raise ConfigError("DIGEST_IMAP_URL has an invalid port") from None
        if not parts.hostname or not parts.username:
            raise ConfigError("DIGEST_IMAP_URL needs a user and a host: imaps://user:password@host/INBOX")
        secret = password if password is not None else unquote(parts.password or "")
        if not secret:
            raise ConfigError("no IMAP password: put it in DIGEST_IMAP_URL or DIGEST_IMAP_PASSWORD_FILE")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        if not folder.isascii() or not folder.isprintable():
            raise ConfigError(f"DIGEST_IMAP_URL: the folder name must be printable ASCII, got {folder!r}")
        return cls(host=parts.hostname, port=port, security=security, username=unquote(parts.username),
                   password=secret, folder=folder, timeout=timeout)

    def display(self) -> str:
        """The URL without the password, for messages and logs."""
        scheme = "imaps" if self.security == "tls" else "imap"
        query = "?security=none" if self.security == "none" else ""
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.folder}{query}"


def _quoted(text: str) -> str:
    """An IMAP astring: the text as is when it is an atom, else a quoted string."""
    if _ASTRING_SAFE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapMailbox:
    """One IMAP session on the configured folder (a context manager); see the module doc.

    `readonly` opens the folder with EXAMINE: nothing, not even \\Seen, can change.
    """

    def __init__(self, config: ImapConfig, *, readonly: bool = False, max_bytes: int = MAX_MESSAGE_BYTES):
        self.config = config
        self.readonly = readonly
        self.max_bytes = max_bytes
        self.keywords = True
        self._imap: imaplib.IMAP4 | None = None

    def __enter__(self) -> Self:
        try:
            self._imap = self._connect()
            self._login_and_select()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            log.debug("IMAP logout failed; the connection is dropped anyway")

    # ---- the Mailbox protocol (jobs.mailbox) ----

    def unprocessed(self, limit: int | None = None) -> list[int]:
        criteria = ["UNDELETED", "UNKEYWORD", PROCESSED, "UNKEYWORD", SKIPPED]
        if not self.keywords:
            criteria.append("UNSEEN")
        data = self._uid("SEARCH", *criteria)
        uids = sorted(int(token) for line in data if line for token in line.split())
        return uids[:limit] if limit else uids

    def fetch(self, uid: int) -> bytes | None:
        """The message's bytes (BODY.PEEK: reading sets no flag), or None when it vanished
        or is larger than `max_bytes` (logged: no report is that large)."""
        size = self._size(uid)
        if size is None:
            return None
        if size > self.max_bytes:
            log.warning("mailbox message %s is %d bytes (limit %d): left alone", uid, size, self.max_bytes)
            return None
        data = self._uid("FETCH", str(uid), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_processed(self, uid: int) -> None:
        flags = f"({PROCESSED} \\Seen)" if self.keywords else "(\\Seen)"
        self._store(uid, flags)

    def mark_left(self, uid: int) -> None:
        if self.keywords:
            self._store(uid, f"({SKIPPED})")

    # ---- plumbing ----

    def _connect(self) -> imaplib.IMAP4:
        config = self.config
        context = ssl.create_default_context()
        try:
            if config.security == "tls":
                return imaplib.IMAP4_SSL(config.host, config.port, ssl_context=context, timeout=config.timeout)
            imap = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
            if config.security == "starttls":
                imap.starttls(ssl_context=context)
            return imap
        except (OSError, imaplib.IMAP4.error) as err:
            raise MailboxError(f"cannot connect to {config.display()}: {_reason(err)}") from None

    def _login_and_select(self) -> None:
        imap, config = self._session(), self.config
        try:
            imap.login(_quoted(config.username), config.password)
        except imaplib.IMAP4.error as err:
            raise MailboxError(f"IMAP login to {config.display()} failed: {_reason(err)} "
                               "(check the user and password)") from None
        except OSError as err:
            raise MailboxError(f"IMAP login to {config.display()} failed: {_reason(err)}") from None
        status, data = self._call(imap.select, _quoted(config.folder), self.readonly)
        if status != "OK":
            raise MailboxError(f"cannot open folder {config.folder!r} on {config.display()}: {_reason(data)}")
        if not self.readonly:
            self.keywords = self._keywords_allowed(imap)
            if not self.keywords:
                log.info("%s allows no keywords: handled mail is only marked \\Seen", config.display())

    @staticmethod
    def _keywords_allowed(imap: imaplib.IMAP4) -> bool:
        _, data = imap.response("PERMANENTFLAGS")
        flags = b" ".join(d for d in data or [] if isinstance(d, bytes))
        return b"\\*" in flags or (PROCESSED.encode() in flags and SKIPPED.encode() in flags)

    def _size(self, uid: int) -> int | None:
        data = self._uid("FETCH", str(uid), "(RFC822.SIZE)")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            match = _SIZE.search(line) if isinstance(line, bytes) else None
            if match:
                return int(match.group(1))
        return None

    def _store(self, uid: int, flags: str) -> None:
        self._uid("STORE", str(uid), "+FLAGS.SILENT", flags)

    def _session(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise MailboxError("the mailbox is not open (use ImapMailbox in a with block)")
        return self._imap

    def _uid(self, command: str, *args: str) -> list:
        """`UID <command> <args>`'s response data; MailboxError unless the server said OK."""
        status, data = self._call(self._session().uid, command, *args)
        if status != "OK":
            raise MailboxError(f"IMAP UID {command} failed on {self.config.display()}: {_reason(data)}")
        return data

    def _call(self, function, *args):
        try:
            return function(*args)
        except (OSError, imaplib.IMAP4.error) as err:
            raise MailboxError(f"IMAP error on {self.config.display()}: {_reason(err)}") from None


def _reason(error: object) -> str:
    """One line from an imaplib/socket error or a server's response data."""
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, Exception) and error.args and isinstance(error.args[0], bytes):
        error = error.args[0]  # imaplib puts the server's reply in as bytes
    if isinstance(error, list):
        error = b" ".join(e for e in error if isinstance(e, bytes)) or "no reason given"
    if isinstance(error, bytes):
        error = error.decode("utf-8", "replace")
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def imap_config(settings: Settings) -> ImapConfig | None:
    """The configured mailbox, or None when DIGEST_IMAP_URL is not set (or empty)."""
    url = settings.imap_url.get_secret_value().strip() if settings.imap_url else ""
    if not url:
        return None
    password = settings.imap_password.get_secret_value() if settings.imap_password else ""
    return ImapConfig.from_url(url, password=password or None)
