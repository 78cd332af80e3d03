"""Where the templates are, the Jinja2 environment for emails, and the filters they use."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

import digest

__all__ = ["finish_text", "make_environment", "oneline", "paper_links", "require_url", "safe_url", "templates_dir"]

# An absolute http(s) URL with nothing that could break out of an attribute or smuggle
# whitespace: RFC 3986 characters, plus "%" escapes and non-ASCII (IRIs) left as they are.
_HTTP_URL = re.compile(r"https?://[^\s\"'<>\\`\x00-\x1f\x7f]+", re.I)


def templates_dir() -> Path:
    """The directory holding `email/` and `web/` templates.

    An installed wheel carries them as `digest/_templates`; a source checkout (or an
    editable install) has them at the repository's top-level `templates/`.
    """
    package = Path(digest.__file__).parent
    bundled = package / "_templates"
    return bundled if bundled.is_dir() else package.parent / "templates"


def safe_url(url: object) -> str | None:
    """`url` stripped if it is an absolute http(s) URL fit for an href, else None.

    Paper links come from third-party listings: a `javascript:` or `data:` URL, or one
    carrying whitespace or quotes, must never become a link.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    return url if _HTTP_URL.fullmatch(url) else None


def require_url(url: str, what: str) -> str:
    """`url` if `safe_url` accepts it; raises ValueError naming `what` otherwise."""
    checked = safe_url(url)
    if checked is None:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {url!r}")
    return checked


def oneline(value: object) -> str:
    """Collapse all whitespace (listing titles often carry newlines) to single spaces."""
    return " ".join(str(value).split()) if value is not None else ""


def finish_text(text: str) -> str:
    """End with exactly one newline (templates may leave blank lines at the end)."""
    return text.strip("\n") + "\n"


# The links a paper shows under its title, in this order, when the listing gave them.
PAPER_LINKS = (("abs", "Abstract"), ("pdf", "PDF"), ("hf", "Hugging Face"), ("code", "Code"), ("project", "Project"))


def paper_links(paper: object) -> list[tuple[str, str]]:
    """(label, URL) of each safe link of `paper` worth showing (abstract page, PDF, HF page, code)."""
    links = getattr(paper, "links", None) or {}
    return [(label, url) for kind, label in PAPER_LINKS if (url := safe_url(links.get(kind)))]


def make_environment(path: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment for the email templates (names like "email/digest.html").

    HTML templates autoescape; .txt templates do not, because the text/plain part and
    the subject are not HTML and `&amp;` there would be a visible bug. Undefined names
    fail loudly. Filters: `oneline`, `safe_url`.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path or templates_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["oneline"] = oneline
    env.filters["safe_url"] = safe_url
    env.globals["paper_links"] = paper_links
    return env
