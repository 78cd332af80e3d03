"""The sample reports in tests/data/mailbox/, filled in for a test (see the README there)."""

from __future__ import annotations

import re
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "data" / "mailbox"
LIST_ADDRESS = "digest@example.org"


def fill(name: str, *, message_id: str = "<none@example.invalid>", recipient: str = "nobody@example.com",
         tag: str = "1", list_address: str = LIST_ADDRESS) -> bytes:
    """Sample `name` with its placeholders replaced and CRLF line ends, as an MTA delivers it."""
    raw = (SAMPLES / name).read_bytes()
    for placeholder, value in (("@@MESSAGE_ID@@", message_id), ("@@RECIPIENT@@", recipient),
                               ("@@LIST_ADDRESS@@", list_address), ("@@REPORT_TAG@@", tag)):
        raw = raw.replace(placeholder.encode(), value.encode())
    return re.sub(rb"\r?\n", b"\r\n", raw)
