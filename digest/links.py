"""The public URLs a subscriber is sent: one place, so emails and web routes agree.

Every signed link names the subscriber by id *and* is bound to their random `link_secret`
(see `digest.tokens`), so it acts only on the person it was sent to. How long each works:

* confirm: CONFIRM_MAX_AGE (3 days); subscribing again sends a new one.
* manage: MANAGE_MAX_AGE (60 days); every digest and confirmation carries a fresh one.
* unsubscribe: UNSUBSCRIBE_MAX_AGE (a year): old emails keep working, and the link can
  do nothing but unsubscribe.
* feedback ("more/less like this"): FEEDBACK_MAX_AGE (180 days).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from digest.compose import Links
from digest.tokens import Keys, sign_link

CONFIRM_MAX_AGE = timedelta(days=3)
MANAGE_MAX_AGE = timedelta(days=60)
UNSUBSCRIBE_MAX_AGE = timedelta(days=365)
FEEDBACK_MAX_AGE = timedelta(days=180)
MAX_AGE = {"confirm": CONFIRM_MAX_AGE, "manage": MANAGE_MAX_AGE, "unsubscribe": UNSUBSCRIBE_MAX_AGE,
           "feedback": FEEDBACK_MAX_AGE}


class LinkOwner(Protocol):
    """A subscriber record or row: what a link is bound to."""

    id: Any
    link_secret: Any


def max_age_seconds(purpose: str) -> int:
    return int(MAX_AGE[purpose].total_seconds())


def link_token(secret: Keys, purpose: str, owner: LinkOwner, payload: Any = None) -> str:
    """A token for `purpose` bound to `owner` (feedback links pass what they vote on as `payload`)."""
    return sign_link(secret, purpose, owner.id, owner.link_secret, payload)


def confirm_url(base_url: str, secret: Keys, owner: LinkOwner) -> str:
    return f"{base_url}/confirm/{link_token(secret, 'confirm', owner)}"


def manage_url(base_url: str, secret: Keys, owner: LinkOwner) -> str:
    return f"{base_url}/manage/{link_token(secret, 'manage', owner)}"


def unsubscribe_url(base_url: str, secret: Keys, owner: LinkOwner) -> str:
    return f"{base_url}/unsubscribe/{link_token(secret, 'unsubscribe', owner)}"


def feedback_url(base_url: str, secret: Keys, owner: LinkOwner) -> str:
    """The subscriber's "more/less like this" URL; each paper adds ?p=<paper id>&v=more|less.

    One signature per message, not per paper: the token authorises votes by this subscriber
    (it is bound to them like every link), and which paper is judged is the reader's choice."""
    return f"{base_url}/feedback/{link_token(secret, 'feedback', owner)}"


def feed_url(base_url: str, feed_token: str, format: str = "atom") -> str:
    return f"{base_url}/feeds/s/{feed_token}.{format}"


def links_for(base_url: str, secret: Keys, subscriber: LinkOwner, *, confirm: bool = False) -> Links:
    """Every link a message to `subscriber` carries, freshly signed (so each digest renews
    the manage link's 60 days)."""
    return Links(
        manage_url=manage_url(base_url, secret, subscriber),
        unsubscribe_url=unsubscribe_url(base_url, secret, subscriber),
        feed_url=feed_url(base_url, subscriber.feed_token),  # type: ignore[attr-defined]
        confirm_url=confirm_url(base_url, secret, subscriber) if confirm else "",
        feedback_url="" if confirm else feedback_url(base_url, secret, subscriber),
    )
