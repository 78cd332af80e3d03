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


class RenderedEmail:
    """A rendered email: `subject` is one line (no CR/LF), `text` and `html` full bodies.

    A digest's HTML is assembled as UTF-8 bytes (`html_body`), so it is never one large
    4-bytes-a-character string (its emoji would make it one: 136 KB built, copied and
    encoded per message); `html` decodes it for whoever wants text."""

    __slots__ = ("html_body", "subject", "text")

    def __init__(self, *, subject: str, text: str, html: str | bytes):
        self.subject = subject
        self.text = text
        self.html_body = html  # str, or its UTF-8 bytes (the HTML body as `mail.bodies` takes it)

    @property
    def html(self) -> str:
        body = self.html_body
        return body.decode("utf-8") if isinstance(body, bytes) else body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RenderedEmail):
            return NotImplemented
        return (self.subject, self.text, self.html) == (other.subject, other.text, other.html)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"RenderedEmail(subject={self.subject!r}, text={self.text!r}, html={self.html!r})"
