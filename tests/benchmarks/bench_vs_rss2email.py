"""Paper Digest's daily run beside rss2email, and an ideal SMTP client, into one real SMTP sink.

    python tests/benchmarks/bench_vs_rss2email.py [--n 5000] [--repeat 3] [--pool 8] [--processes N] [--replay] [--fsync] [--keep]

One run, one sink: a disk-writing aiosmtpd server in its own process
(`tests/benchmarks/disk_sink.py`) receives, in turn:

- rss2email (a test extra; this script installs nothing): one RSS feed of N real papers
  (`paper_feed.py`: the arXiv listings in ../shared/fixtures, or the package samples when
  that folder is absent, said so in the output), a throwaway r2e config and data file,
  `r2e run` sending one email per item over SMTP, as rss2email does;
- Paper Digest: a fresh SQLite database holding the same N papers (`digest ingest` of the
  same feed) and N subscribers with varied queries, then `digest run --now`: N ranked
  10-paper digests, 8 pooled connections, no rate limit;
- the ideal client (`ideal_smtp_client.py`): plain aiosmtplib, 8 pooled connections,
  N pre-built messages of our messages' average size;
- with --replay, also the same client sending our own N messages of the round again (as the
  sink saved them, fresh Message-IDs): the sink-bound ceiling for exactly our messages, whose
  lines are fewer and longer than the ideal client's 76-character ones.

Each system runs as a child process; its CPU time is that child's rusage (os.wait4: user +
system, its own children included), its wall time from start to exit, so both include
interpreter start-up and imports, which are also measured apart (`--help`). Emails are
counted at the sink, per sender domain, with distinct Message-IDs. The setup (database,
subscribers, ingest, `r2e add`) is not in the timed run; our ingest is reported apart,
since rss2email's run parses the feed itself. With --repeat the three alternate in order
and every figure is given as a range. Other people's work on the machine shows in the load
average, printed before and after. The last line is one JSON object with every figure.

The children import `digest` as this environment would (the editable checkout); to measure
another version, e.g. a commit before a change, put its tree first on PYTHONPATH:

    git archive COMMIT | tar -x -C /tmp/before && PYTHONPATH=/tmp/before python tests/benchmarks/bench_vs_rss2email.py
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # first, even when an editable install already lists it

from tests.benchmarks.disk_sink import DiskSink, spawn_disk_sink
from tests.benchmarks.paper_feed import load_papers, write_feed, write_subscribers

R2E_DOMAIN, OURS_DOMAIN, IDEAL_DOMAIN = "rss2email.example.org", "ours.example.org", "ideal-client.example.org"
SYSTEMS = ("rss2email", "ours", "ideal", "replay")
# The sink accepts lines past RFC 5321's 1,000 characters, as Postfix does: with its default
# settings rss2email writes some real arXiv abstracts (those with "|" in them, which html2text
# will not wrap) as one 1,000-1,400 character line, aiosmtpd's stock limit answers 500 "Line
# too long", and `r2e run` aborts there without saving what it sent (a re-run resends it).
SINK_LINE_LIMIT = 65536


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and what it printed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """One system's timed run: emails counted at the sink, wall and CPU of its process."""

    system: str
    emails: int
    distinct_ids: int
    wall_s: float
    cpu_s: float  # user + system
    sys_s: float  # system (kernel) part of cpu_s
    sink_cpu_s: float
    bytes_per_email: float
    send_wall_s: float | None = None  # the ideal client's sending phase alone
    send_cpu_s: float | None = None

    @property
    def per_second(self) -> float:
        return self.emails / (self.send_wall_s or self.wall_s)

    @property
    def cpu_ms(self) -> float:
        return 1000 * (self.send_cpu_s if self.send_cpu_s is not None else self.cpu_s) / max(self.emails, 1)

    def figures(self) -> dict:
        return {**asdict(self), "emails_per_s": round(self.per_second, 1), "cpu_ms_per_email": round(self.cpu_ms, 3),
                "sys_ms_per_email": round(1000 * self.sys_s / max(self.emails, 1), 3),
                "sink_cpu_ms_per_email": round(1000 * self.sink_cpu_s / max(self.emails, 1), 3)}


def tool(name: str) -> str:
    """The console script `name` of this interpreter's environment."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        hint = "pip install -e '.[test]'" if name == "r2e" else "pip install -e ."
        raise BenchError(f"`{name}` is not installed in this environment: run {hint}")
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class Child:
    """A finished child process: wall seconds, CPU seconds (user + system) and system seconds
    from its rusage (its own children included), and what it printed."""

    wall_s: float
    cpu_s: float
    sys_s: float
    output: str


def run_child(cmd: list[str], *, cwd: Path, env: dict | None = None, log: Path) -> Child:
    """Run `cmd` to completion, its output going to `log`. Raises BenchError if it fails."""
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-5:])
        raise BenchError(f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))} exited "
                         f"{proc.returncode}: {tail}")
    return Child(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, sys_s=usage.ru_stime, output=output)


def timed(system: str, domain: str, sink: DiskSink, cmd: list[str], *, cwd: Path, env: dict | None,
          log: Path) -> tuple[Phase, str]:
    """Run one system against the sink and count what the sink received from `domain`."""
    before = sink.figures_after(time.time())
    child = run_child(cmd, cwd=cwd, env=env, log=log)
    after = sink.figures_after(time.time())
    got, had = after["domains"].get(domain, {}), before["domains"].get(domain, {})
    emails = got.get("messages", 0) - had.get("messages", 0)
    phase = Phase(system=system, emails=emails, wall_s=round(child.wall_s, 3), cpu_s=round(child.cpu_s, 3),
                  sys_s=round(child.sys_s, 3),
                  distinct_ids=got.get("distinct_message_ids", 0) - had.get("distinct_message_ids", 0),
                  sink_cpu_s=round(after["cpu_s"] - before["cpu_s"], 3),
                  bytes_per_email=round((got.get("bytes", 0) - had.get("bytes", 0)) / max(emails, 1)))
    return phase, child.output


# -- the three systems ------------------------------------------------------------------------


def run_rss2email(work: Path, feed: Path, sink: DiskSink) -> Phase:
    """A throwaway r2e config and data file; `r2e add` (untimed), then `r2e run` (timed).
    rss2email's defaults throughout, but for the SMTP settings."""
    folder = work / "r2e"
    folder.mkdir()
    config = folder / "r2e.cfg"
    config.write_text("[DEFAULT]\nto = reader@example.org\n"
                      f"from = rss2email@{R2E_DOMAIN}\nemail-protocol = smtp\n"
                      f"smtp-server = {sink.host}\nsmtp-port = {sink.port}\nsmtp-ssl = False\nsmtp-auth = False\n"
                      "verbose = error\n")
    r2e = [tool("r2e"), "-c", str(config), "-d", str(folder / "r2e.json")]
    run_child([*r2e, "add", "bench", str(feed)], cwd=folder, log=folder / "add.log")
    phase, _ = timed("rss2email", R2E_DOMAIN, sink, [*r2e, "run"], cwd=folder, env=None, log=folder / "run.log")
    return phase


def digest_env(folder: Path, sink: DiskSink, pool: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(DIGEST_DATABASE_URL=f"sqlite:///{folder / 'digest.db'}", DIGEST_SMTP_HOST=sink.host,
               DIGEST_SMTP_PORT=str(sink.port), DIGEST_SMTP_POOL_SIZE=str(pool), DIGEST_SMTP_RATE="1000000",
               DIGEST_FROM=f"Paper Digest <digest@{OURS_DOMAIN}>", DIGEST_BASE_URL="https://digest.example.org",
               DIGEST_SECRET_KEY=secrets.token_urlsafe(48))
    return env


def run_ours(work: Path, feed: Path, people: Path, sink: DiskSink, pool: int,
             processes: int | None = None) -> tuple[Phase, dict]:
    """A fresh database, the subscribers, then the feed (subscribers first, so every paper is
    new to them); `digest run --now` timed. Returns the phase and the ingest figures."""
    folder = work / "ours"
    folder.mkdir()
    env = digest_env(folder, sink, pool)
    digest = tool("digest")
    run_child([digest, "db", "upgrade"], cwd=folder, env=env, log=folder / "db.log")
    run_child([digest, "subscribers", "import", str(people), "--apply", "--json"], cwd=folder, env=env,
              log=folder / "import.log")
    ingest = run_child([digest, "ingest", str(feed), "--json"], cwd=folder, env=env, log=folder / "ingest.log")
    cmd = [digest, "run", "--now", "--json", *(["--processes", str(processes)] if processes else [])]
    phase, output = timed("ours", OURS_DOMAIN, sink, cmd, cwd=folder, env=env, log=folder / "run.log")
    report = json.loads(output[output.index("{"):])
    return phase, {"ingest_wall_s": round(ingest.wall_s, 3), "ingest_cpu_s": round(ingest.cpu_s, 3), "run_report": report}


def run_ideal(work: Path, sink: DiskSink, n: int, size: int, pool: int, replay: Path | None = None) -> Phase:
    """The ideal client: `n` messages of `size` bytes, or with `replay` the messages saved there."""
    cmd = [sys.executable, "-m", "tests.benchmarks.ideal_smtp_client", "--host", sink.host, "--port", str(sink.port),
           "--n", str(n), "--size", str(size), "--pool", str(pool), *(["--replay", str(replay)] if replay else [])]
    system = "replay" if replay else "ideal"
    phase, output = timed(system, IDEAL_DOMAIN, sink, cmd, cwd=ROOT, env=None, log=work / f"{system}.log")
    inner = json.loads(output.strip().splitlines()[-1])
    return Phase(**{**asdict(phase), "send_wall_s": round(inner["wall_s"], 3), "send_cpu_s": round(inner["cpu_s"], 3)})


def digest_location(work: Path) -> str:
    """The folder of the `digest` package the children import (PYTHONPATH can choose it)."""
    child = run_child([sys.executable, "-c", "import digest, os; print(os.path.dirname(digest.__file__))"], cwd=work,
                      log=work / "where.log")
    return child.output.strip().splitlines()[-1]


def startup_cpu(work: Path) -> dict:
    """Wall and CPU seconds of `--help` alone: what every run pays before its first email."""
    figures = {}
    for name, cmd in (("digest", [tool("digest"), "--help"]), ("r2e", [tool("r2e"), "--help"])):
        child = run_child(cmd, cwd=work, log=work / f"{name}-help.log")
        figures[name] = {"wall_s": round(child.wall_s, 3), "cpu_s": round(child.cpu_s, 3)}
    return figures


# -- the run ----------------------------------------------------------------------------------


def one_round(number: int, work: Path, feed: Path, people: Path, sink: DiskSink, args: argparse.Namespace) -> dict:
    """rss2email, ours, ideal (rotated by round), each followed by emptying the sink's folder."""
    folder = work / f"round{number}"
    folder.mkdir()
    # rss2email and ours alternate who goes first; the ideal client needs our message size.
    order = ("rss2email", "ours", "ideal") if number % 2 == 0 else ("ours", "rss2email", "ideal")
    if args.replay:
        order += ("replay",)
    phases: dict[str, Phase] = {}
    extra: dict = {"load_before": os.getloadavg()}
    for system in order:
        if system == "rss2email":
            phases[system] = run_rss2email(folder, feed, sink)
        elif system == "ours":
            phases[system], ours_extra = run_ours(folder, feed, people, sink, args.pool, args.processes)
            extra.update(ours_extra)
        elif system == "ideal":
            phases[system] = run_ideal(folder, sink, args.n, int(phases["ours"].bytes_per_email), args.pool)
        else:
            phases[system] = run_ideal(folder, sink, args.n, 0, args.pool, replay=folder / "ours-mail")
        if system == "ours" and args.replay:  # kept for the replay
            (folder / "ours-mail").mkdir()
            for path in sink_folder(work).iterdir():
                path.rename(folder / "ours-mail" / path.name)
        _empty(sink_folder(work))
        print(f"  round {number + 1}: {system:9s} {phases[system].emails:,} emails in {phases[system].wall_s:.2f} s, "
              f"{phases[system].per_second:,.0f}/s, {phases[system].cpu_ms:.2f} ms CPU/email", flush=True)
    extra["load_after"] = os.getloadavg()
    extra["order"] = list(order)
    return {"phases": {name: phase.figures() for name, phase in phases.items()}, **extra}


def sink_folder(work: Path) -> Path:
    return work / "sink-mail"


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


def spread(values: list[float]) -> dict:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def summarise(rounds: list[dict]) -> dict:
    def series(system: str, key: str) -> list[float]:
        return [r["phases"][system][key] for r in rounds]

    systems = [system for system in SYSTEMS if system in rounds[0]["phases"]]
    summary = {system: {key: spread(series(system, key)) for key in
                        ("emails_per_s", "cpu_ms_per_email", "sink_cpu_ms_per_email", "bytes_per_email")}
               for system in systems}
    ours_eps, r2e_eps, ideal_eps = (series(s, "emails_per_s") for s in ("ours", "rss2email", "ideal"))
    ours_cpu, r2e_cpu = series("ours", "cpu_ms_per_email"), series("rss2email", "cpu_ms_per_email")
    summary["ratios"] = {
        "speed_ours_over_rss2email": spread([o / r for o, r in zip(ours_eps, r2e_eps)]),
        "cpu_rss2email_over_ours": spread([r / o for o, r in zip(ours_cpu, r2e_cpu)]),
        "ours_fraction_of_ideal": spread([o / i for o, i in zip(ours_eps, ideal_eps)]),
    }
    if "replay" in systems:
        replay_eps = series("replay", "emails_per_s")
        summary["ratios"]["ours_fraction_of_replay"] = spread([o / r for o, r in zip(ours_eps, replay_eps)])
        summary["ratios"]["replay_over_rss2email"] = spread([r / e for r, e in zip(replay_eps, r2e_eps)])
    ingest = [r["ingest_cpu_s"] * 1000 / max(r["phases"]["ours"]["emails"], 1) for r in rounds]
    summary["ours_ingest_cpu_ms_per_email"] = spread(ingest)
    summary["ours_with_ingest_cpu_ms_per_email"] = spread([c + i for c, i in zip(ours_cpu, ingest)])
    return summary


def _range(figure: dict, fmt: str) -> str:
    low, high = format(figure["min"], fmt), format(figure["max"], fmt)
    return low if low == high else f"{low}-{high}"


def report(figures: dict) -> None:
    s = figures["summary"]
    print(f"\n{figures['n']:,} emails each, {figures['rounds']} round(s), pool {figures['pool']}, "
          f"{'fsync per message, ' if figures['fsync'] else ''}disk-writing aiosmtpd sink in its own process; "
          f"load average {figures['load_before'][0]:.2f} before, {figures['load_after'][0]:.2f} after, "
          f"{os.cpu_count()} CPUs")
    print(f"| {'':32s} | emails/s (wall) | CPU ms/email | sink CPU ms/email | bytes/email |")
    print(f"|{'-' * 34}|-----------------|--------------|-------------------|-------------|")
    names = {"rss2email": "rss2email (r2e run)", "ours": "Paper Digest (digest run --now)",
             "ideal": "ideal aiosmtplib client (send)", "replay": "ideal client, our messages"}
    for system in (system for system in SYSTEMS if system in s):
        row = s[system]
        print(f"| {names[system]:32s} | {_range(row['emails_per_s'], ',.0f'):>15s} | {_range(row['cpu_ms_per_email'], '.2f'):>12s} "
              f"| {_range(row['sink_cpu_ms_per_email'], '.2f'):>17s} | {_range(row['bytes_per_email'], ',.0f'):>11s} |")
    r = s["ratios"]
    print(f"ours / rss2email speed: {_range(r['speed_ours_over_rss2email'], '.2f')}x (target >= 1.6); "
          f"rss2email CPU / ours: {_range(r['cpu_rss2email_over_ours'], '.2f')} (target >= 1.0); "
          f"ours / ideal client: {_range(r['ours_fraction_of_ideal'], '.0%')} (target >= 90%)")
    if "ours_fraction_of_replay" in r:
        print(f"ours / the ideal client sending our own messages: {_range(r['ours_fraction_of_replay'], '.0%')}; "
              f"that client / rss2email: {_range(r['replay_over_rss2email'], '.2f')}x")
    print(f"our ingest of the same feed (apart from the run): {_range(s['ours_ingest_cpu_ms_per_email'], '.2f')} ms "
          f"CPU/email; run + ingest {_range(s['ours_with_ingest_cpu_ms_per_email'], '.2f')} ms")
    st = figures["startup"]
    print(f"start-up alone (--help): digest {st['digest']['cpu_s'] * 1000:.0f} ms CPU / {st['digest']['wall_s']:.2f} s wall; "
          f"r2e {st['r2e']['cpu_s'] * 1000:.0f} ms CPU / {st['r2e']['wall_s']:.2f} s wall")
    print(json.dumps(figures))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="emails per system (papers in the feed, subscribers)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (figures are reported as ranges)")
    ap.add_argument("--pool", type=int, default=8, help="SMTP connections for us and the ideal client")
    ap.add_argument("--processes", type=int, default=None,
                    help="`digest run --processes N` (default: digest's own choice: 1 below 10,000 subscribers)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--replay", action="store_true",
                    help="also run the ideal client on our own messages of each round (the ceiling for them)")
    ap.add_argument("--fsync", action="store_true", help="the sink fsyncs every message")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases) and print it")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-vs-r2e-"))
    try:
        return _bench(work, args)
    except BenchError as err:
        sys.exit(f"bench_vs_rss2email: {err}")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _bench(work: Path, args: argparse.Namespace) -> dict:
    source = load_papers(args.n)
    print(f"papers: {args.n:,} from {source.origin} ({source.distinct:,} distinct)")
    if source.note:
        print(f"  note: {source.note}")
    feed, people = work / "feed.xml", work / "subscribers.csv"
    write_feed(source.papers, feed)
    write_subscribers(source.papers, args.n, people, seed=args.seed)
    figures: dict = {"n": args.n, "rounds": args.repeat, "pool": args.pool, "fsync": args.fsync, "processes": args.processes,
                     "papers_from": source.origin, "papers_note": source.note, "load_before": os.getloadavg()}
    figures["startup"] = startup_cpu(work)
    figures["digest_package"] = digest_location(work)
    print(f"ours: the digest package in {figures['digest_package']}")
    sink = spawn_disk_sink(sink_folder(work), work / "sink.json", fsync=args.fsync, line_limit=SINK_LINE_LIMIT)
    try:
        rounds = [one_round(k, work, feed, people, sink, args) for k in range(args.repeat)]
    finally:
        sink.stop()
    figures.update(load_after=os.getloadavg(), summary=summarise(rounds), runs=rounds)
    for number, run in enumerate(rounds, start=1):
        for system, phase in run["phases"].items():
            if phase["emails"] != args.n or phase["distinct_ids"] != args.n:
                empty = run["run_report"].get("skipped_empty", 0) if system == "ours" else 0
                why = f"; {empty:,} subscriber(s) had no matching paper" if empty else ""
                print(f"  warning: round {number} {system}: the sink counted {phase['emails']:,} emails "
                      f"({phase['distinct_ids']:,} distinct Message-IDs), expected {args.n:,}{why}")
    report(figures)
    return figures


if __name__ == "__main__":
    main()
