"""The public URLs a subscriber is sent: one place, so emails and web routes agree.

Manage and unsubscribe links never expire (an old email's unsubscribe link must keep
working); they carry a signed subscriber id, so a forged or edited one is refused.
Confirmation links expire after CONFIRM_MAX_AGE.
"""

from __future__ import annotations

from datetime import timedelta

from digest.compose import Links
from digest.models import Subscriber
from digest.tokens import make_token

CONFIRM_MAX_AGE = timedelta(days=3)


def confirm_url(base_url: str, secret: str, subscriber_id: int) -> str:
    return f"{base_url}/confirm/{make_token(secret, 'confirm', subscriber_id)}"


def manage_url(base_url: str, secret: str, subscriber_id: int) -> str:
    return f"{base_url}/manage/{make_token(secret, 'manage', subscriber_id)}"


def unsubscribe_url(base_url: str, secret: str, subscriber_id: int) -> str:
    return f"{base_url}/unsubscribe/{make_token(secret, 'unsubscribe', subscriber_id)}"


def feed_url(base_url: str, feed_token: str, format: str = "atom") -> str:
    return f"{base_url}/feeds/s/{feed_token}.{format}"


def links_for(base_url: str, secret: str, subscriber: Subscriber, *, confirm: bool = False) -> Links:
    """Every link a message to `subscriber` carries."""
    return Links(
        manage_url=manage_url(base_url, secret, subscriber.id),
        unsubscribe_url=unsubscribe_url(base_url, secret, subscriber.id),
        feed_url=feed_url(base_url, subscriber.feed_token),
        confirm_url=confirm_url(base_url, secret, subscriber.id) if confirm else "",
    )
