"""The demo use case: the whole pipeline on the sample snapshots shipped in the package.

Ingests the samples into a SQLite file, adds three demo subscribers, plans and sends their
digests through the real SMTP sender to an SMTP sink running in this process, and writes
what the sink received (.eml files) and a feed into the folder. Needs no configuration.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from digest.config import load_settings
from digest.enums import SubscriberStatus
from digest.feeds import FeedInfo, build_feed
from digest.jobs.dispatch import Dispatcher
from digest.jobs.ingest import ingest_bytes
from digest.jobs.planning import plan_digests
from digest.jobs.rendering import MailSetup
from digest.jobs.subscribers import add_subscriber
from digest.mail.smtp import SmtpConfig, SmtpSender
from digest.models import IngestReport
from digest.store.db import open_engine
from digest.store.papers import count_papers, list_papers
from digest.store.subscribers import find
from digest.subscribers import spec_from

__all__ = ["run_demo"]

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
            add_subscriber(engine, spec_from({**fields, "status": SubscriberStatus.ACTIVE}))
            added += 1
    return added


async def _send(engine: Engine, port: int) -> dict:
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



def run_demo(folder: Path) -> tuple[dict[str, Any], list[IngestReport]]:
    """Run the pipeline into `folder`; returns the summary (as `digest demo --json` prints it)
    and the ingest reports. Safe to run again: known snapshots and digests are not redone."""
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
    return summary, reports
