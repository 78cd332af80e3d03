"""Snapshot parsers: bytes -> ParsedSnapshot, one module per format, all pure.

`parse_snapshot` detects the format (or takes the one forced with `--format`) and names the
input in every error, so the user sees one line saying what and where.
"""

from __future__ import annotations

import codecs
import re
import zlib
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
# A BibTeX entry, a RIS record or Zotero's CSV header: a subscriber's library, not a listing.
_LIBRARY = re.compile(rb'^(?:@[a-z]+\s*[{(]|ty {1,2}-|"?key"?[,;\t]"?item type"?[,;\t])', re.IGNORECASE | re.MULTILINE)
_XML_FORMATS = {"arxiv-rss", "arxiv-api", "rss", "atom"}
_XML_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""")
_GZIP = b"\x1f\x8b"
# The largest text a compressed input may unpack to (the default DIGEST_MAX_SNAPSHOT_BYTES;
# ingest passes the configured cap).
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
# Text saved as UTF-16 or UTF-32 ("Unicode" in Windows editors) starts with its byte order
# mark; UTF-32 first, since its little-endian mark begins with UTF-16's.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


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
    if _LIBRARY.search(head):
        raise SnapshotError("a reference library (BibTeX, RIS or CSV), not a listing: import it with "
                            "`digest subscribers import-library EMAIL FILE`")
    return "hf-page"


def parse_snapshot(
    data: bytes, *, input: str = "-", format: str | None = None, today: date | None = None,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> ParsedSnapshot:
    """Parse one input. Raises SnapshotError naming `input` when it cannot be read.

    Gzip-compressed input is unpacked (up to `max_bytes`), and text saved as UTF-16/32 with
    a byte order mark is read as such.
    """
    try:
        if data[:2] == _GZIP:
            data = gunzip(data, max_bytes)
        utf8 = _wide_to_utf8(data)
        chosen = format or detect_format(utf8)
        if chosen not in PARSERS:
            raise SnapshotError(f"unknown format {chosen!r} (choose one of: {', '.join(FORMATS)})")
        module = import_module(PARSERS[chosen])
        if chosen == "hf-page":
            return module.parse(utf8, today=today, strict=format is None)
        if chosen in _XML_FORMATS and utf8 is not data:
            # Decoded by its byte order mark: the declaration's "UTF-16" no longer holds.
            utf8 = _XML_ENCODING.sub(b"\\1utf-8\\2", utf8, count=1)
        return module.parse(utf8)
    except SnapshotError as err:
        raise err.at(input) from None
    except RecursionError:
        raise SnapshotError("input nested too deeply to parse", input=input) from None


def gunzip(data: bytes, cap: int) -> bytes:
    """The unpacked bytes of gzip data (every member); SnapshotError when corrupt, cut off or over `cap`."""
    out = bytearray()
    while data[:2] == _GZIP:
        unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += unpacker.decompress(data, cap + 1 - len(out))
        except zlib.error as err:
            raise SnapshotError(f"gzip data is corrupt ({err})") from None
        if len(out) > cap or unpacker.unconsumed_tail:
            limit = f"{cap / 1_000_000:.1f} MB" if cap >= 100_000 else f"{cap:,} bytes"
            raise SnapshotError(f"gzip data unpacks to more than {limit} (raise DIGEST_MAX_SNAPSHOT_BYTES if it is genuine)")
        if not unpacker.eof:
            raise SnapshotError("gzip data stops before its end (a download cut short?)")
        data = unpacker.unused_data.lstrip(b"\x00")  # members may be padded with zeros
    return bytes(out)


def _wide_to_utf8(data: bytes) -> bytes:
    """UTF-16/32 text (with its byte order mark) as UTF-8; other bytes unchanged."""
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec).encode("utf-8", "surrogatepass")
            except UnicodeError as err:
                raise SnapshotError(f"not {codec.upper()} text despite its byte order mark ({err.reason} "
                                    f"at byte {err.start})") from None
    return data
