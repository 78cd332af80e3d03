"""A disk-writing aiosmtpd sink in its own process, counting per sender domain.

    python -m tests.benchmarks.disk_sink --dir MAILDIR --dump FILE [--port 0] [--fsync]

A real SMTP server (aiosmtpd, which reads DATA line by line) that writes every accepted
message to its own file under --dir, as a simple MTA's queue would, so a benchmark that
runs several clients against it compares them under the same server cost. It counts
messages, bytes and distinct Message-IDs per MAIL FROM domain (each client under test
uses its own domain), and its own CPU seconds, and writes them as JSON to --dump every
0.2 s and on SIGTERM (atomically), stamped with the wall-clock time of the dump, so a
reader can wait for a dump taken after a client finished.

`spawn_disk_sink()` starts one and waits for its `ready HOST PORT` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # first, even when an editable install already lists it

from tests.smtp_server import SERVER_NAME, message_id_of

DUMP_INTERVAL = 0.2


@dataclass
class DomainCounts:
    messages: int = 0
    bytes: int = 0
    message_ids: set[str] = field(default_factory=set)


class DiskHandler:
    """aiosmtpd handler: write each message to `folder/<n>.eml`, count it per sender domain."""

    def __init__(self, folder: Path, *, fsync: bool = False):
        self.folder = folder
        self.fsync = fsync
        self.written = 0
        self.domains: dict[str, DomainCounts] = {}

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or b""
        self.written += 1
        # Written in the loop, as a simple MTA's queue writer would: its cost is the sink's.
        with open(self.folder / f"{self.written}.eml", "wb") as out:  # noqa: ASYNC230
            out.write(data)
            if self.fsync:
                out.flush()
                os.fsync(out.fileno())
        domain = (envelope.mail_from or "").rpartition("@")[2].lower() or "(none)"
        counts = self.domains.setdefault(domain, DomainCounts())
        counts.messages += 1
        counts.bytes += len(data)
        message_id = message_id_of(data)
        if message_id:
            counts.message_ids.add(message_id)
        return "250 2.0.0 OK queued"

    def figures(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "at": time.time(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "written": self.written,
            "domains": {name: {"messages": c.messages, "bytes": c.bytes, "distinct_message_ids": len(c.message_ids)}
                        for name, c in self.domains.items()},
        }


def _write_json(path: Path, figures: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(figures))
    os.replace(tmp, path)


async def _serve(args: argparse.Namespace) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    handler = DiskHandler(Path(args.dir), fsync=args.fsync)
    # aiosmtpd's limit is also its stream buffer size: raising it accepts long lines (as
    # Postfix does, splitting them) and reads DATA in larger pieces.
    server_class = type("LimitedSMTP", (SMTP,), {"line_length_limit": args.line_limit})
    server = await loop.create_server(lambda: server_class(handler, hostname=SERVER_NAME, loop=loop),
                                      args.host, args.port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {args.host} {server.sockets[0].getsockname()[1]}", flush=True)
    dump = Path(args.dump)
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):  # time for the next dump
            await asyncio.wait_for(stop.wait(), DUMP_INTERVAL)
        _write_json(dump, handler.figures())
    server.close()
    _write_json(dump, handler.figures())


@dataclass
class DiskSink:
    """A running sink process: `figures_after(t)` waits for a dump taken after wall time t."""

    process: subprocess.Popen
    host: str
    port: int
    dump: Path

    def figures_after(self, moment: float, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                figures = json.loads(self.dump.read_text())
                if figures["at"] > moment:
                    return figures
            time.sleep(DUMP_INTERVAL / 4)
        raise RuntimeError(f"the sink wrote no figures within {timeout} s (is it still running?)")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return line[0].strip() if line else ""


def spawn_disk_sink(folder: Path, dump: Path, *, fsync: bool = False, line_limit: int = 1001,
                    ready_timeout: float = 15.0) -> DiskSink:
    """Start the sink writing into `folder`; raises RuntimeError if it does not come up."""
    cmd = [sys.executable, "-m", "tests.benchmarks.disk_sink", "--dir", str(folder), "--dump", str(dump), "--port", "0",
           "--line-limit", str(line_limit)]
    if fsync:
        cmd.append("--fsync")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    parts = _first_line(proc, ready_timeout).split()
    if len(parts) != 3 or parts[0] != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the disk sink did not start (said {' '.join(parts)!r})")
    return DiskSink(proc, parts[1], int(parts[2]), dump)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="folder for the received messages (one file each)")
    ap.add_argument("--dump", required=True, help="JSON figures file, rewritten every 0.2 s")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port (printed in the ready line)")
    ap.add_argument("--line-limit", type=int, default=1001,
                    help="longest line accepted, CRLF included (default 1001, aiosmtpd's and RFC 5321's)")
    ap.add_argument("--fsync", action="store_true", help="fsync every message file (as a durable MTA queue does)")
    args = ap.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd logs every session at INFO
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
