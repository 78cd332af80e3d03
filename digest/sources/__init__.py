"""Snapshot parsers: bytes -> ParsedSnapshot, one module per format, all pure.

`parse_snapshot` detects the format (or takes the one forced with `--format`) and names the
input in every error, so the user sees one line saying what and where.
"""

from __future__ import annotations

from datetime import date
from importlib import import_module

from digest.errors import SnapshotError
from digest.models import ParsedSnapshot

# Format name -> parser module. Every feed flavour goes through the one feedparser module,
# which reports the flavour it found.
PARSERS = {
    "hf-page": "digest.sources.hf_page",
    "hf-api": "digest.sources.hf_api",
    "arxiv-rss": "digest.sources.feed",
    "arxiv-api": "digest.sources.feed",
    "rss": "digest.sources.feed",
    "atom": "digest.sources.feed",
}
FORMATS = tuple(PARSERS)
_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf")
_HTML_ROOTS = (b"<!doctype html", b"<html")


def detect_format(data: bytes) -> str:
    """The format of `data` by its first bytes; raises SnapshotError for what no parser reads."""
    head = data[:8192].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        raise SnapshotError("empty input")
    if b"\x00" in head:
        raise SnapshotError("binary data, not a text snapshot")
    if head[:1] in (b"{", b"["):
        return "hf-api"
    if head[:1] == b"<":
        if head.startswith(_HTML_ROOTS) or (b"<html" in head and not any(root in head for root in _FEED_ROOTS)):
            raise SnapshotError("an HTML page, not a snapshot (save the HF page as text, or ingest the HF API JSON)")
        return "rss"
    return "hf-page"


def parse_snapshot(data: bytes, *, input: str = "-", format: str | None = None, today: date | None = None) -> ParsedSnapshot:
    """Parse one input. Raises SnapshotError naming `input` when it cannot be read."""
    try:
        chosen = format or detect_format(data)
        if chosen not in PARSERS:
            raise SnapshotError(f"unknown format {chosen!r} (choose one of: {', '.join(FORMATS)})")
        module = import_module(PARSERS[chosen])
        if chosen == "hf-page":
            return module.parse(data, today=today, strict=format is None)
        return module.parse(data)
    except SnapshotError as err:
        raise err.at(input) from None
    except RecursionError:
        raise SnapshotError("input nested too deeply to parse", input=input) from None
