"""`digest demo`: the whole pipeline on the sample snapshots shipped in the package.

Ingests the samples into a SQLite file, adds three demo subscribers, plans and sends their
digests through the real SMTP sender to an SMTP sink running in this process, and writes
what the sink received (.eml files) and a feed into the folder. Needs no configuration.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone
from pathlib import Path

import typer
from aiosmtpd.controller import Controller

from digest.cli.common import console, handle_errors, print_json
from digest.config import load_settings
from digest.feeds import FeedInfo, build_feed
from digest.jobs import ingest_bytes
from digest.jobs.delivery import Dispatcher, MailSetup, plan_digests
from digest.jobs.subscribers import add_subscriber
from digest.mail.sender import SmtpConfig, SmtpSender
from digest.store.db import open_engine
from digest.store.papers import count_papers, list_papers
from digest.store.subscribers import find
from digest.subscribers import spec_from

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# Listing order matters: it is the order the snapshots were published in.
SAMPLE_FILES = (
    "snapshots/hf-listing-compact.txt",
    "snapshots/hf-listing-with-metadata.txt",
    "snapshots/hf-listing-plain.txt",
    "hf-api/daily-papers-limit30.json",
    "feeds/arxiv-rss-new-cross-replace.xml",
    "feeds/arxiv-api-query.atom.xml",
)
DEMO_SUBSCRIBERS = (
    {"email": "ada@example.org", "name": "Ada", "interests": '"token pooling" OR normalization -medical',
     "timezone": "Europe/London", "send_hour": 8},
    {"email": "bob@example.org", "name": "Bob", "interests": "pruning, data filtering",
     "timezone": "America/Los_Angeles", "send_hour": 7},
    {"email": "chiyo@example.org", "name": "Chiyo", "interests": "diffusion OR author:zhang",
     "timezone": "Asia/Tokyo", "send_hour": 9},
)


class _Sink:
    """An SMTP server that keeps every message it is given (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos[0], envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _add_demo_subscribers(engine) -> int:
    added = 0
    for fields in DEMO_SUBSCRIBERS:
        with engine.connect() as conn:
            exists = find(conn, fields["email"]) is not None
        if not exists:
            add_subscriber(engine, spec_from({**fields, "status": "active"}))
            added += 1
    return added


async def _send(engine, port: int) -> dict:
    settings = load_settings(smtp_host="127.0.0.1", smtp_port=port, base_url="http://localhost:8000")
    setup = MailSetup.from_settings(settings, allow_demo_secret=True)
    async with SmtpSender(SmtpConfig.from_settings(settings)) as sender:
        report = await Dispatcher(engine, sender, setup, concurrency=2).drain()
    return report.as_dict()


def _write_outputs(folder: Path, sink: _Sink, engine) -> tuple[list[Path], Path]:
    emails = folder / "emails"
    emails.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    written = []
    for number, (recipient, data) in enumerate(sink.received, start=1):
        path = emails / f"{stamp}-{number}-{recipient}.eml"
        path.write_bytes(data)
        written.append(path)
    with engine.connect() as conn:
        newest = list_papers(conn, limit=50)
    info = FeedInfo(title="Paper Digest demo: new papers", link="http://localhost:8000/",
                    self_url="http://localhost:8000/feeds/papers.atom")
    feed = folder / "papers.atom"
    feed.write_bytes(build_feed(newest, info, format="atom"))
    return written, feed


@handle_errors
def demo(
    folder: Path = typer.Option(Path("digest-demo"), "--folder", help="Where the demo writes its database and output."),
    as_json: bool = typer.Option(False, "--json", help="Print what happened as JSON."),
) -> None:
    """Run the whole pipeline on the bundled samples: ingest, rank, render, send to a local sink.

    Needs no configuration and touches nothing outside FOLDER: the database, the emails the
    sink received (.eml) and an Atom feed are written there. Run it twice: the second run
    recognises every snapshot and sends nothing new.

    Example:  digest demo --folder /tmp/digest-demo
    """
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "digest.db"
    engine = open_engine(f"sqlite:///{database}")
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    try:
        reports = [ingest_bytes(engine, (SAMPLES / name).read_bytes(), input=name) for name in SAMPLE_FILES]
        added = _add_demo_subscribers(engine)
        plan = plan_digests(engine, force=True)
        controller.start()
        sent = asyncio.run(_send(engine, controller.port))
        emails, feed = _write_outputs(folder, sink, engine)
        with engine.connect() as conn:
            total = count_papers(conn)
    finally:
        if controller.server is not None:
            controller.stop()
        engine.dispose()
    summary = {"folder": str(folder), "database": str(database), "papers": total, "subscribers_added": added,
               "planned": plan.planned, **sent, "emails": [str(p) for p in emails], "feed": str(feed),
               "inputs": [r.as_dict() for r in reports]}
    if as_json:
        print_json(summary)
        return
    _print_summary(summary, reports)


def _print_summary(summary: dict, reports) -> None:
    console.print(f"[bold]Paper Digest demo[/] — everything is in {summary['folder']}/")
    for report in reports:
        state = "already ingested" if report.duplicate_snapshot else f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged"
        console.print(f"  ingest {report.input:<40} {report.format:<9} {report.papers:>4} papers: {state}", highlight=False)
    console.print(f"[bold]{summary['papers']}[/] distinct papers stored in {summary['database']}")
    console.print(f"digests planned: {summary['planned']}, sent to the local SMTP sink: {summary['sent']}")
    for path in summary["emails"]:
        console.print(f"  email  {path}", highlight=False)
    if not summary["emails"]:
        console.print("  (no new digests: each demo subscriber already got today's; delete the folder to start over)")
    console.print(f"  feed   {summary['feed']}", highlight=False)
