"""The "ideal client": plain aiosmtplib sending pre-built messages over pooled connections.

    python -m tests.benchmarks.ideal_smtp_client --port PORT --n 5000 --size 26000 [--pool 8]
    python -m tests.benchmarks.ideal_smtp_client --port PORT --replay FOLDER [--pool 8]

The reference an email sender is measured against: no database, no rendering, no MIME work,
just `n` messages of `size` bytes built before the clock starts, sent by `pool` workers,
each holding one aiosmtplib connection for the whole run. Prints one JSON line: wall and
CPU seconds of the sending phase alone, and how many were sent and refused.

With --replay it sends, instead, the messages saved in FOLDER (one .eml file each, as the
disk sink writes them) under fresh Message-IDs: what a client that does no work but SMTP
reaches with exactly those messages, line lengths included (the sink's cost per message
depends on its lines as well as its bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import secrets
import time
from email.utils import formatdate
from pathlib import Path

FROM = "ideal@ideal-client.example.org"
_LINE = ("The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
         "0123456789 ")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_messages(n: int, size: int) -> list[tuple[str, bytes]]:
    """`n` (recipient, message) pairs of about `size` bytes: headers, then 76-character
    ASCII lines (nothing for the client to encode or dot-stuff)."""
    text = (_LINE * (size // len(_LINE) + 2)).encode()
    body = b"\r\n".join(text[i:i + 76] for i in range(0, size, 76))
    date = formatdate(localtime=False)
    run = secrets.token_hex(4)  # Message-IDs unique across runs into one sink
    messages = []
    for k in range(n):
        to = f"reader{k}@example{k % 101}.org"
        head = (f"From: Ideal Client <{FROM}>\r\nTo: {to}\r\nSubject: Message {k}\r\nDate: {date}\r\n"
                f"Message-ID: <ideal.{run}.{k}@ideal-client.example.org>\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
        messages.append((to, head + body[: max(size - len(head), 0)] + b"\r\n"))
    return messages


_MESSAGE_ID = re.compile(rb"^Message-ID:[^\r\n]*", re.I | re.M)


def saved_messages(folder: Path) -> list[tuple[str, bytes]]:
    """The .eml files in `folder` as (recipient, message) pairs, each under a fresh Message-ID
    (so the sink counts them apart from the originals)."""
    run = secrets.token_hex(4)
    messages = []
    for k, path in enumerate(sorted(folder.glob("*.eml"))):
        fresh = b"Message-ID: <replay.%s.%d@ideal-client.example.org>" % (run.encode(), k)
        messages.append((f"reader{k}@example{k % 101}.org", _MESSAGE_ID.sub(fresh, path.read_bytes(), count=1)))
    return messages


async def send_all(host: str, port: int, messages: list[tuple[str, bytes]], pool: int) -> dict:
    """Send every message with `pool` connections; wall and CPU seconds of the sending alone."""
    import aiosmtplib

    queue = iter(messages)
    sent = refused = 0

    async def worker() -> None:
        nonlocal sent, refused
        smtp = aiosmtplib.SMTP(hostname=host, port=port, local_hostname="ideal-client.test", timeout=60)
        await smtp.connect()
        try:
            for to, data in queue:
                try:
                    await smtp.sendmail(FROM, [to], data)
                    sent += 1
                except aiosmtplib.SMTPResponseException:
                    refused += 1
        finally:
            await smtp.quit()

    wall, cpu = time.perf_counter(), _cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(pool)))
    return {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu_seconds() - cpu, "sent": sent, "refused": refused}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=5000, help="messages")
    ap.add_argument("--size", type=int, default=26_000, help="bytes per message")
    ap.add_argument("--pool", type=int, default=8, help="connections (and concurrent senders)")
    ap.add_argument("--replay", type=Path, default=None, help="send the .eml files of this folder instead")
    args = ap.parse_args(argv)
    messages = saved_messages(args.replay) if args.replay else build_messages(args.n, args.size)
    figures = asyncio.run(send_all(args.host, args.port, messages, args.pool))
    figures["bytes_per_message"] = round(sum(len(data) for _, data in messages) / max(len(messages), 1))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
