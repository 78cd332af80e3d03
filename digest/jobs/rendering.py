"""Rendering: outbox rows -> message bytes, with the settings resolved once per run.

`MailSetup` is everything a message needs from the settings (plain values, so it can be
handed to a worker process); `Renderer` turns a planned or claimed row, its subscriber
and the papers it names into an `Outgoing` message: compose, MIME, DKIM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from functools import partial
from typing import Any, Protocol

from digest.addresses import envelope_address
from digest.compose import Composer
from digest.config import Settings
from digest.enums import DeliveryKind
from digest.errors import DigestError
from digest.highlight import Highlighter
from digest.links import links_for
from digest.mail.dkim import sign_dkim
from digest.mail.message import build_message
from digest.mail.message_ids import make_message_id
from digest.mail.sender import Outgoing
from digest.models import Digest, Paper, RankedPaper, Subscriber

__all__ = ["DeliveryRow", "MailSetup", "PlannedRow", "Renderer", "item_paper_ids", "render_preview_html"]

RANKED_CACHE_MAX = 20_000  # shared ranked papers kept (cleared when full): flat memory on long runs


class DeliveryRow(Protocol):
    """What rendering reads of an outbox row (a claimed row, or a `PlannedRow`)."""

    id: int
    kind: str
    period: str
    items: list
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedRow:
    """A row a dry run planned but never wrote, numbered so its message has an id."""

    id: int
    kind: str
    period: str
    items: list
    created_at: datetime

    @classmethod
    def numbered(cls, number: int, row: Mapping[str, Any]) -> PlannedRow:
        """`row` as `outbox.new_row` built it, given the id `number`."""
        return cls(id=number, kind=row["kind"], period=row["period"], items=row["items"],
                   created_at=row["created_at"])


@dataclass(frozen=True, kw_only=True)
class MailSetup:
    """Everything a message needs from the settings, resolved once per run."""

    base_url: str
    secret: str
    from_addr: str
    from_name: str | None
    domain: str
    list_id: str
    id_salt: str
    dkim: tuple[str, str, bytes] | None = None  # selector, domain, private key

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_demo_secret: bool = False) -> MailSetup:
        """Raises DigestError when DIGEST_FROM has no address (ConfigError without a secret)."""
        name, address = parseaddr(settings.from_)
        if "@" not in address:
            raise DigestError(f"DIGEST_FROM must contain an address, got {settings.from_!r}")
        domain = address.rsplit("@", 1)[1]
        secret = settings.secret(allow_demo=allow_demo_secret)
        dkim = None
        if settings.dkim_private_key_file and settings.dkim_selector:
            dkim = (settings.dkim_selector, settings.dkim_domain or domain, settings.dkim_private_key_file.read_bytes())
        return cls(
            base_url=settings.base_url,
            secret=secret,
            from_addr=address,
            from_name=name or None,
            domain=domain,
            list_id=f"digest.{domain}",
            # Message-IDs differ between installations sharing a domain, stable per row.
            id_salt=hashlib.sha256(secret.encode()).hexdigest()[:12],
            dkim=dkim,
        )


def item_paper_ids(item_lists: Iterable[list]) -> Iterator[int]:
    """Every paper id the outbox rows' items name: the papers and the liked papers they resemble."""
    for items in item_lists:
        for item in items:
            yield item[0]
            if len(item) > 3 and item[3] is not None:
                yield item[3]


class Renderer:
    """Turns outbox rows into message bytes; one per run (it caches fragments), not thread-safe."""

    def __init__(self, setup: MailSetup, composer: Composer | None = None):
        self.setup = setup
        self.composer = composer or Composer(base_url=setup.base_url + "/")
        self.highlighter = Highlighter()
        self._ranked: dict[tuple, RankedPaper] = {}  # see digest_of

    def digest_of(self, row: DeliveryRow, subscriber: Subscriber, papers: Mapping[int, Paper]) -> Digest:
        """The row's papers with their snippets; a paper deleted since planning is left out.

        Each ranked paper is made once per (paper, score, terms, liked paper) and shared by the
        digests that list it the same way (4 of 5 items in the 5,000-email run): one lookup, not
        a snippet lookup and a new RankedPaper per item. A shared one is used only while `papers`
        still holds the very objects it was made of (a caller that reads papers afresh gets new ones)."""
        ranked = []
        made = self._ranked
        for item in row.items:
            paper_id, score, matched, *because = item  # [id, score, terms] or [id, score, terms, liked id]
            paper = papers.get(paper_id)
            if paper is None:
                continue
            liked_id = because[0] if because else None
            liked = papers.get(liked_id) if liked_id is not None else None
            key = (paper_id, score, tuple(matched), liked_id)
            rp = made.get(key)
            if rp is None or rp.paper is not paper or rp.because is not liked:
                if len(made) >= RANKED_CACHE_MAX:
                    made.clear()
                rp = made[key] = RankedPaper(paper, score, key[2], self.highlighter.snippet(paper, matched), liked)
            ranked.append(rp)
        return Digest(subscriber=subscriber, period=row.period, papers=ranked, delivery_id=row.id)

    def message(self, row: DeliveryRow, subscriber: Subscriber, papers: Mapping[int, Paper],
                now: datetime) -> Outgoing:
        """The complete message for `row`; raises DigestError (or ValueError) for what cannot be sent."""
        setup = self.setup
        if row.kind == DeliveryKind.CONFIRM:
            links = links_for(setup.base_url, setup.secret, subscriber, confirm=True)
            rendered = self.composer.render_confirmation(subscriber, links, requested_at=row.created_at)
            list_headers = {}
        else:
            links = links_for(setup.base_url, setup.secret, subscriber)
            rendered = self.composer.render_digest(self.digest_of(row, subscriber, papers), links)
            list_headers = {
                "list_id": setup.list_id,
                "list_unsubscribe_url": links.unsubscribe_url,
                "list_unsubscribe_mailto": f"mailto:{setup.from_addr}?subject=unsubscribe",
            }
        fields = dict(
            from_addr=setup.from_addr, from_name=setup.from_name, to_addr=subscriber.email, to_name=subscriber.name,
            subject=rendered.subject, text=rendered.text, html=rendered.html_body,
            message_id=make_message_id(row.id, setup.domain, salt=setup.id_salt, created=row.created_at), date=now,
            **list_headers,
        )
        data = self._signed(build_message(eight_bit=True, **fields))
        # 8-bit bodies go to relays that advertise 8BITMIME; the rest get the 7-bit twin,
        # built (and signed) only when such a relay asks. A pure-ASCII message is both.
        seven_bit = None if data.isascii() else partial(self._seven_bit, fields)
        # build_message (and the DKIM header) end every line with CRLF: `crlf` spares the
        # SMTP client checking it again.
        return Outgoing(delivery_id=row.id, mail_from=setup.from_addr, recipients=(envelope_address(subscriber.email),), data=data,
                        seven_bit=seven_bit, crlf=True)

    def _seven_bit(self, fields: dict) -> bytes:
        return self._signed(build_message(eight_bit=False, **fields))

    def _signed(self, data: bytes) -> bytes:
        """`data` with a DKIM signature when the setup has a key: each variant sent is signed."""
        if self.setup.dkim is None:
            return data
        selector, domain, key = self.setup.dkim
        return sign_dkim(data, selector=selector, domain=domain, private_key_pem=key)


def render_preview_html(settings: Settings, subscriber: Subscriber, ranked: list[RankedPaper]) -> str:
    """The HTML body `subscriber`'s next digest would have (links signed as in a real send)."""
    setup = MailSetup.from_settings(settings, allow_demo_secret=True)
    renderer = Renderer(setup)
    digest = Digest(subscriber=subscriber, period="preview", papers=ranked)
    return renderer.composer.render_digest(digest, links_for(setup.base_url, setup.secret, subscriber)).html
