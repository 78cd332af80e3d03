"""What rendering takes and gives: a subscriber's links in, subject/text/html out."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Links", "RenderedEmail"]


@dataclass(slots=True)
class Links:
    """Per-subscriber URLs. A digest needs manage, unsubscribe and feed URLs; the
    confirmation email needs `confirm_url`. All must be absolute http(s) URLs."""

    manage_url: str = ""
    unsubscribe_url: str = ""
    feed_url: str = ""
    confirm_url: str = ""
    # "More/less like this" for each paper: this URL plus ?p=<paper id>&v=more|less (optional).
    feedback_url: str = ""


@dataclass(slots=True, kw_only=True)
class RenderedEmail:
    """A rendered email: `subject` is one line (no CR/LF), `text` and `html` full bodies."""

    subject: str
    text: str
    html: str
