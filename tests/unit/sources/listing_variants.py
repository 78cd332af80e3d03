"""Generated variants of the real fixture files: how the last abstract ends, how the file is framed.

Every variant of a listing holds the same papers as the file it came from, so a test can
assert the paper count per variant. Endings are appended to the LAST paper's abstract (the
one a cut-off heuristic looks at); framings change the whole file's bytes the ways saves,
editors and downloads do. Pure helpers: bytes in, bytes out.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "digest" / "samples"
MORE = ROOT / "tests" / "data" / "more"

# The HF page layouts (identical copies of ../shared/fixtures/snapshots/), with their counts.
PAGES = {"hf-listing-compact.txt": 119, "hf-listing-with-metadata.txt": 38, "hf-listing-plain.txt": 48}
FEEDS = sorted([*SAMPLES.glob("feeds/*.xml"), *MORE.glob("arxiv_api/*.xml"), *MORE.glob("arxiv_rss/*.xml"),
                *MORE.glob("hf_papers_rss_thirdparty/*.xml")])
HF_API = sorted([*SAMPLES.glob("hf-api/*.json"), *MORE.glob("hf_daily_papers_api/*.json")])

# Abstract endings no cut-off guess may take for a cut: a link, a parenthesis, a digit.
ENDINGS = {
    "as-saved": "",
    "url": " Code: https://example.github.io/project/",
    "paren": " (code and data in the supplementary material)",
    "digit": " The error rate falls to 0.12",
}
NBSP = "\xa0"


def _frame_text(text: str, framing: str) -> str:
    """The whole text framed: line endings, BOM, NBSP, tabs, trailing spaces."""
    if framing == "crlf":
        return text.replace("\r\n", "\n").replace("\n", "\r\n")
    if framing == "bom":
        return "\ufeff" + text
    if framing == "tabs":
        return "\n".join("\t" + line + "\t" if line else line for line in text.split("\n"))
    if framing == "trailing-spaces":
        return "\n".join(line + "   " for line in text.split("\n"))
    return text


PAGE_FRAMINGS = ("as-saved", "no-final-newline", "crlf", "nbsp", "tabs", "trailing-spaces", "bom")


def page_variant(text: str, last_abstract: str, ending: str, framing: str) -> bytes:
    """A saved HF page with `ending` on its last abstract, framed.

    "no-final-newline" stops the text right after the last abstract (metadata and final
    newline gone, as a save cut short leaves it); "nbsp" makes every space of the page a
    no-break space.
    """
    tail = last_abstract[-60:]
    end = text.rindex(tail) + len(tail)
    text = text[:end] + ENDINGS[ending] + text[end:]
    if framing == "no-final-newline":
        text = text[: end + len(ENDINGS[ending])]
    elif framing == "nbsp":
        text = text.replace(" ", NBSP)
    return _frame_text(text, framing).encode()


FEED_FRAMINGS = ("as-saved", "no-final-newline", "crlf", "nbsp", "tabs", "trailing-spaces", "bom")


def feed_variant(data: bytes, ending: str, framing: str) -> bytes:
    """An RSS/Atom document with `ending` at the end of its last entry's text, framed.

    NBSP, tabs and trailing spaces go into the last entry's text (markup stays XML).
    """
    text = data.decode("utf-8")
    suffix = ENDINGS[ending]
    if framing == "nbsp":
        suffix = suffix.replace(" ", NBSP) + NBSP
    elif framing == "tabs":
        suffix = suffix.replace(" ", "\t") + "\t\t"
    elif framing == "trailing-spaces":
        suffix += "    "
    at = max(text.rfind("</description>"), text.rfind("</summary>"))
    if text.endswith("]]>", 0, at):
        at -= 3  # inside the CDATA section
    if 0 <= max(text.rfind("<item"), text.rfind("<entry")) < at:  # the last entry's text, not the channel's
        text = text[:at] + suffix + text[at:]
    if framing == "no-final-newline":
        text = text.rstrip()
    elif framing in ("crlf", "bom"):
        text = _frame_text(text, framing)
    return text.encode("utf-8")


API_FRAMINGS = ("as-saved", "no-final-newline", "crlf", "nbsp", "tabs", "trailing-spaces", "bom", "compact")


def api_variant(data: bytes, ending: str, framing: str) -> bytes:
    """An HF API response with `ending` on its last item's summary, re-serialised and framed."""
    doc = json.loads(data)
    items = doc if isinstance(doc, list) else next(v for v in doc.values() if isinstance(v, list))
    suffix = ENDINGS[ending] + (NBSP if framing == "nbsp" else "")
    if framing == "nbsp":
        suffix = suffix.replace(" ", NBSP)
    if items:
        last = items[-1]
        for holder in (last.get("paper") or {}, last):
            if isinstance(holder.get("summary"), str):
                holder["summary"] += suffix
    indent = None if framing == "compact" else ("\t" if framing == "tabs" else 2)
    text = json.dumps(doc, indent=indent, ensure_ascii=framing != "nbsp") + "\n"
    if framing == "no-final-newline":
        text = text.rstrip()
    elif framing == "trailing-spaces":
        text = "\n".join(line + "   " for line in text.split("\n"))
    elif framing in ("crlf", "bom"):
        text = _frame_text(text, framing)
    return text.encode("utf-8")
