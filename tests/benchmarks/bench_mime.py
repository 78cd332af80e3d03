"""The hand MIME writer (`mail.message.build_message`) against the stdlib's `EmailMessage(policy=SMTP)`.

    python tests/benchmarks/bench_mime.py [--n 2000] [--papers 10]

Isolated: one real 10-paper digest (papers from bench_vs_rss2email's feed, rendered by the
Composer) is serialised over and over, by:

- `build_message(eight_bit=False)`: 7-bit clean, quoted-printable or base64 bodies (what a
  relay without 8BITMIME gets);
- `build_message(eight_bit=True)`: UTF-8 bodies as they are (what an 8BITMIME relay gets);
- `EmailMessage(policy=email.policy.SMTP)`: the same headers, `set_content(text)`,
  `add_alternative(html, subtype="html")`, `as_bytes()`.

Before timing, all three are parsed back with `email.policy.default` and must carry the same
decoded content: the same header values and the same text and HTML bodies, without defects.
Prints CPU microseconds per message and bytes per message for each; the last line is JSON.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from digest.compose import Composer
from digest.compose.records import Links
from digest.mail.message import build_message
from digest.models import Digest, Paper, RankedPaper, Subscriber
from tests.benchmarks.paper_feed import load_papers

DATE = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
BASE = "https://digest.example.org"
TOKEN = "WzEsIlktMUx3V2FtNjdscDNPVzMiXQ.axaJ4g.R6QMAX98jnky7-FzFWZ1eWYGGAU"


def digest_fields(papers: int) -> dict:
    """The keyword arguments of `build_message` for one real rendered digest."""
    source = load_papers(papers).papers[:papers]
    ranked = []
    for k, fp in enumerate(source, start=1):
        paper = Paper(title=fp.title, abstract=fp.abstract, arxiv_id=fp.arxiv_id, id=k, key=f"arxiv:{fp.arxiv_id}",
                      authors=("Zoë Ångström", "Ada Lovelace"), upvotes=k,
                      links={"abs": f"https://arxiv.org/abs/{fp.arxiv_id}", "pdf": f"https://arxiv.org/pdf/{fp.arxiv_id}"})
        words = fp.abstract.split()
        snippet = " ".join(words[:12] + ["<b>" + words[12] + "</b>"] + words[13:30]) + "…" if len(words) > 30 else ""
        ranked.append(RankedPaper(paper, 1.0 / k, (words[12],) if snippet else (), snippet, None))
    subscriber = Subscriber(email="zoe@example.com", name="Zoë Ångström", interests="token pooling, diffusion",
                            id=7, status="active")
    links = Links(manage_url=f"{BASE}/manage/{TOKEN}", unsubscribe_url=f"{BASE}/unsubscribe/{TOKEN}",
                  feed_url=f"{BASE}/feeds/s/abc.atom", feedback_url=f"{BASE}/feedback/{TOKEN}")
    rendered = Composer(base_url=BASE + "/").render_digest(Digest(subscriber=subscriber, period="2026-12-07",
                                                                  papers=ranked), links)
    return {"from_addr": "digest@example.org", "from_name": "Paper Digest", "to_addr": subscriber.email,
            "to_name": subscriber.name, "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
            "message_id": "<42.abc123@example.org>", "date": DATE, "list_id": "digest.example.org",
            "list_unsubscribe_url": links.unsubscribe_url,
            "list_unsubscribe_mailto": "mailto:digest@example.org?subject=unsubscribe"}


def stdlib_message(f: dict) -> bytes:
    """The same message through the stdlib's EmailMessage and the SMTP policy."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((f["from_name"], f["from_addr"]))
    msg["To"] = formataddr((f["to_name"], f["to_addr"]))
    msg["Subject"] = f["subject"]
    msg["Date"] = format_datetime(f["date"])
    msg["Message-ID"] = f["message_id"]
    msg["List-Id"] = f"<{f['list_id']}>"
    msg["List-Unsubscribe"] = f"<{f['list_unsubscribe_url']}>, <{f['list_unsubscribe_mailto']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(f["text"])
    msg.add_alternative(f["html"], subtype="html")
    return msg.as_bytes()


WRITERS = {
    "build_message 7-bit (QP/base64)": lambda f: build_message(**f, eight_bit=False),
    "build_message 8BITMIME": lambda f: build_message(**f, eight_bit=True),
    "EmailMessage(policy=SMTP)": stdlib_message,
}
HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post")


def decoded(data: bytes) -> tuple:
    """What a reader gets: header values and both bodies, decoded; asserts no defects."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    defects = list(msg.defects) + [d for part in msg.walk() for d in part.defects]
    assert not defects, defects
    heads = tuple(" ".join(str(msg[name]).split()) for name in HEADERS)
    # set_content ends a body with a line break when it has none; that one is not compared.
    bodies = tuple(msg.get_body((kind,)).get_content().replace("\r\n", "\n").rstrip("\n")
                   for kind in ("plain", "html"))
    return heads, bodies


def cpu_us(writer, fields: dict, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        writer(fields)
    return (time.process_time() - started) / n * 1e6


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="messages per writer")
    ap.add_argument("--papers", type=int, default=10)
    args = ap.parse_args(argv)
    fields = digest_fields(args.papers)
    outputs = {name: writer(fields) for name, writer in WRITERS.items()}
    contents = {name: decoded(data) for name, data in outputs.items()}
    reference = contents["EmailMessage(policy=SMTP)"]
    for name, content in contents.items():
        assert content == reference, f"{name}: decoded content differs from the stdlib's"
    figures = {"n": args.n, "papers": args.papers, "text_chars": len(fields["text"]), "html_chars": len(fields["html"]),
               "writers": {}}
    for name, writer in WRITERS.items():
        cpu_us(writer, fields, max(args.n // 20, 5))  # warm-up
        figures["writers"][name] = {"cpu_us_per_message": round(cpu_us(writer, fields, args.n), 1),
                                    "bytes": len(outputs[name])}
    stdlib = figures["writers"]["EmailMessage(policy=SMTP)"]["cpu_us_per_message"]
    print(f"one {args.papers}-paper digest ({figures['text_chars']:,} text + {figures['html_chars']:,} HTML chars), "
          f"same decoded headers and bodies from each writer, {args.n:,} messages each:")
    for name, row in figures["writers"].items():
        print(f"  {name:34s} {row['cpu_us_per_message']:8.1f} us CPU/message  {row['bytes']:7,} bytes  "
              f"({stdlib / row['cpu_us_per_message']:.1f}x the stdlib's speed)")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
