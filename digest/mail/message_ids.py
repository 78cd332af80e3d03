"""Message-IDs for outbox rows: made deterministically, recognised when a bounce quotes one."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Iterable

from digest.mail.message import DOMAIN_RE

__all__ = ["delivery_id_of", "make_message_id"]


def make_message_id(delivery_id: int, domain: str, *, salt: str = "", created: datetime | None = None) -> str:
    """A Message-ID for outbox row `delivery_id`, e.g.
    `<digest-123.m3x9k2a1b0.4f2a9c0e1b7d3a55@example.org>`.

    Deterministic, so a retried delivery carries the same id and receivers can
    de-duplicate it. Globally unique because each part is: row ids are never reused
    within a database (AUTOINCREMENT / sequences), `created` (the row's creation time,
    in microseconds, base 36) tells apart a database started again from scratch, and the
    hash part keeps installations apart: pass something unique per installation as `salt`,
    such as the site key's fingerprint. Without `created` the older form
    `<digest-123.4f2a9c0e1b7d3a55@example.org>` is made (still recognised).
    """
    if not isinstance(delivery_id, int) or isinstance(delivery_id, bool) or delivery_id < 0:
        raise ValueError(f"delivery_id must be a non-negative int, got {delivery_id!r}")
    domain = domain.strip().lower()
    if not DOMAIN_RE.fullmatch(domain):
        raise ValueError(f"not a domain name: {domain!r}")
    stamp = "" if created is None else _base36(round(created.timestamp() * 1_000_000))
    return _message_id_of(delivery_id, stamp, domain, salt)


def _message_id_of(delivery_id: int, stamp: str, domain: str, salt: str) -> str:
    middle = f"{delivery_id}\x00{stamp}" if stamp else f"{delivery_id}"
    tag = hashlib.blake2b(f"{salt}\x00{middle}\x00{domain}".encode(), digest_size=8).hexdigest()
    return f"<digest-{delivery_id}.{stamp + '.' if stamp else ''}{tag}@{domain}>"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


_OUR_ID = re.compile(r"<digest-(\d{1,18})\.(?:([0-9a-z]{1,14})\.)?[^@<>\s.]+@([^<>\s]+)>", re.IGNORECASE)


def delivery_id_of(message_id: str, *, salt: str | Iterable[str] = "") -> int | None:
    """The outbox row id in `message_id` when `make_message_id` made it with this `salt`
    (or one of these salts: the current and the previous key's during a rollover), else None.

    The id is recomputed and compared, so a bounce or complaint quoting a forged or
    foreign Message-ID (backscatter from spam that borrowed our address) matches nothing.
    Both forms (with and without the creation stamp) are recognised.
    """
    match = _OUR_ID.fullmatch(message_id.strip()) if isinstance(message_id, str) else None
    if match is None:
        return None
    delivery_id, stamp, domain = int(match.group(1)), (match.group(2) or "").lower(), match.group(3).lower()
    if not DOMAIN_RE.fullmatch(domain):
        return None
    quoted = message_id.strip().lower().encode("utf-8", "replace")
    for one in ([salt] if isinstance(salt, str) else list(salt)):
        expected = _message_id_of(delivery_id, stamp, domain, one)
        if hmac.compare_digest(expected.encode("ascii"), quoted):
            return delivery_id
    return None
