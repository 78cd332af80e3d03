"""Where `digest run --now` spends its CPU per email: by stage, by message size, at start-up.

    python tests/benchmarks/profile_daily_run.py [--n 5000] [--repeat 2] [--sizes 3,10,20] [--rate 250]

The workload of bench_vs_rss2email (N real papers, N subscribers with varied queries, a
fresh SQLite database, 8 pooled connections, no rate limit, the disk-writing aiosmtpd
sink in its own process), measured three ways:

1. Stages: `digest run --now` under py-spy (`record --gil --threads`: only the thread
   holding the GIL is sampled, so samples are Python CPU time, not threads waiting).
   Samples are put into stages by the frames on their stack (`STAGES`).
   The user CPU time is split by the stages' shares of the samples (native code that
   runs without the GIL, as sqlite's, is spread over the stages); the system time (the
   kernel's socket and file work) is its own line.
2. Message size: unprofiled runs at each `--sizes` papers per digest; CPU ms/email against
   bytes/email, with a least-squares line (fixed ms per email + ms per KB).
3. Start-up: `digest --help` CPU, and `python -X importtime` of the CLI summed per
   top-level package.

It also takes one received digest apart (headers, text and HTML parts, encoding overhead,
inline styles). PYTHONPATH chooses the code measured, as for bench_vs_rss2email. Needs
py-spy (`pip install py-spy`); without it, part 1 is skipped. The last line is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # first, even when an editable install already lists it

from tests.benchmarks.bench_vs_rss2email import (
    OURS_DOMAIN,
    SINK_LINE_LIMIT,
    BenchError,
    digest_env,
    digest_location,
    run_child,
    sink_folder,
    timed,
    tool,
)
from tests.benchmarks.disk_sink import DiskSink, spawn_disk_sink
from tests.benchmarks.paper_feed import load_papers, write_feed, write_subscribers

# (stage, substrings that must all appear in some frame of the stack), first match wins.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("start-up and lazy imports", ("_find_and_load",)),
    ("plan: ranking (index, queries)", ("plan_digests (", "(digest/ranking.py")),
    ("plan: reading, writing the outbox", ("plan_digests (",)),
    ("render: snippets (highlight)", ("Renderer.message", "(digest/highlight.py")),
    ("render: signed links", ("Renderer.message", "links_for (")),
    ("render: MIME (build_message, QP)", ("Renderer.message", "build_message (")),
    ("render: compose (templates, HTML, text)", ("Renderer.message", "(digest/compose/")),
    ("render: other", ("Renderer.message",)),
    ("DB: claim rows, load people and papers", ("_claim_and_render",)),
    ("DB: settle outcomes (group commit)", ("Settler",)),
    ("SMTP client (sender, aiosmtplib)", ("(digest/mail/smtp",)),
    ("SMTP client (sender, aiosmtplib)", ("(aiosmtplib/",)),
    ("event loop, threads, queues", ("(asyncio/",)),
    ("event loop, threads, queues", ("(concurrent/futures/",)),
    ("CLI, settings, engine (start-up)", ("(digest/cli/",)),
)
KERNEL = "kernel (system time: socket writes, file and sqlite I/O)"


def stage_of(frames: list[str]) -> str:
    if len(frames) <= 1:  # only the thread's name: C code with no Python frame (GC, finalisers)
        return "interpreter (no Python frame)"
    for stage, needles in STAGES:
        if all(any(needle in frame for frame in frames) for needle in needles):
            return stage
    return "other"


def classify(raw: Path) -> Counter[str]:
    """Samples per stage in a py-spy `--format raw` file (one `frame;frame;... count` a line)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            counts[stage_of(stack.split(";"))] += int(number)
    return counts


# -- runs ---------------------------------------------------------------------------------


def prepare(work: Path, sink: DiskSink, n: int, max_papers: int, seed: int) -> Path:
    """A database with N subscribers (`max_papers` each) and N papers, ready for `run --now`."""
    folder = work / f"template-{max_papers}"
    folder.mkdir()
    source = load_papers(n)
    feed, people = work / "feed.xml", folder / "subscribers.csv"
    if not feed.exists():
        write_feed(source.papers, feed)
    write_subscribers(source.papers, n, people, seed=seed, max_papers=max_papers)
    env = digest_env(folder, sink, 8)
    digest = tool("digest")
    for step, cmd in (("db", ["db", "upgrade"]), ("import", ["subscribers", "import", str(people), "--apply"]),
                      ("ingest", ["ingest", str(feed)])):
        run_child([digest, *cmd], cwd=folder, env=env, log=folder / f"{step}.log")
    return folder / "digest.db"


def run_once(template: Path, work: Path, sink: DiskSink, pool: int, tag: str, *, rate: int = 0) -> dict:
    """`digest run --now` on a copy of `template`; under py-spy when `rate` > 0."""
    folder = work / tag
    folder.mkdir()
    shutil.copy(template, folder / "digest.db")
    cmd = [tool("digest"), "run", "--now", "--json"]
    if rate:
        cmd = [tool("py-spy"), "record", "--nonblocking", "--subprocesses", "--gil", "--threads", "--rate", str(rate), "--format", "raw",
               "-o", str(folder / "profile.raw"), "--", *cmd]
    phase, _ = timed("ours", OURS_DOMAIN, sink, cmd, cwd=folder, env=digest_env(folder, sink, pool), log=folder / "run.log")
    anatomy = message_anatomy(next(sink_folder(work).iterdir(), None))
    for path in sink_folder(work).iterdir():
        path.unlink()
    return {"emails": phase.emails, "wall_s": phase.wall_s, "cpu_s": phase.cpu_s, "cpu_ms": round(phase.cpu_ms, 3),
            "sys_ms": round(1000 * phase.sys_s / max(phase.emails, 1), 3),
            "emails_per_s": round(phase.per_second, 1), "bytes_per_email": phase.bytes_per_email,
            "profile": str(folder / "profile.raw") if rate else None, "anatomy": anatomy}


def message_anatomy(path: Path | None) -> dict:
    """Where the bytes of one received message are: headers, each part on the wire and decoded."""
    if path is None:
        return {}
    raw = path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    figures = {"total": len(raw), "headers": raw.find(b"\r\n\r\n")}
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type().split("/")[1]
        body = part.get_content()
        figures[f"{kind}_wire"] = len(part.get_payload(decode=False))
        figures[f"{kind}_chars"] = len(body)
        figures[f"{kind}_encoding"] = str(part["Content-Transfer-Encoding"])
        if kind == "html":
            figures["html_style_attr_chars"] = sum(len(s) for s in re.findall(r'style="([^"]*)"', body))
            figures["html_head_style_chars"] = sum(len(s) for s in re.findall(r"<style[^>]*>(.*?)</style>", body, re.DOTALL))
            figures["html_non_ascii_chars"] = sum(1 for c in body if ord(c) > 127)
    return figures


def import_times(work: Path, top: int = 12) -> dict:
    """Self import time (ms) summed per top-level package for the CLI module, and the total."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import digest.cli.app"], cwd=work,
                          capture_output=True, text=True, check=True)
    per_package: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            per_package[match.group(2).split(".")[0]] += int(match.group(1))
    return {"total_ms": round(sum(per_package.values()) / 1000), "by_package_ms":
            {name: round(us / 1000) for name, us in per_package.most_common(top)}}


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares y = a + b x over (x, y) points: (a, b)."""
    slope, intercept = statistics.linear_regression([x for x, _ in points], [y for _, y in points])
    return intercept, slope


# -- the run ------------------------------------------------------------------------------------


def profile_stages(template: Path, work: Path, sink: DiskSink, args: argparse.Namespace, cpu_ms: float,
                   sys_ms: float) -> dict:
    """CPU ms per email by stage: the user time of the unprofiled runs split by the stages'
    shares of py-spy's GIL samples, and the system (kernel) time as its own line.

    Shares, not sample counts, are converted: on a loaded machine a thread holding the GIL
    while the OS runs something else is still sampled, so counts overstate CPU."""
    counts: Counter[str] = Counter()
    for k in range(args.profiles):
        run = run_once(template, work, sink, args.pool, f"profile-{k}", rate=args.rate)
        counts += classify(Path(run["profile"]))
    samples = max(sum(counts.values()), 1)
    user_ms = max(cpu_ms - sys_ms, 0.0)
    per_email = {stage: user_ms * n / samples for stage, n in counts.most_common()}
    per_email[KERNEL] = sys_ms
    return {"ms_per_email": {stage: round(ms, 3) for stage, ms in per_email.items()},
            "share": {stage: round(ms / max(cpu_ms, 1e-9), 3) for stage, ms in per_email.items()},
            "samples": samples, "rate_hz": args.rate, "profiled_runs": args.profiles}


def startup(work: Path, times: int = 3) -> dict:
    runs = [run_child([tool("digest"), "--help"], cwd=work, log=work / "help.log") for _ in range(times)]
    return {"cpu_ms": [round(c.cpu_s * 1000) for c in runs], "wall_ms": [round(c.wall_s * 1000) for c in runs]}


def _profile(work: Path, args: argparse.Namespace) -> dict:
    import os

    figures: dict = {"n": args.n, "pool": args.pool, "load_before": os.getloadavg(), "startup": startup(work),
                     "imports": import_times(work), "digest_package": digest_location(work)}
    sink = spawn_disk_sink(sink_folder(work), work / "sink.json", line_limit=SINK_LINE_LIMIT)
    try:
        sizes: dict[int, list[dict]] = {}
        templates: dict[int, Path] = {}
        for size in args.sizes:
            templates[size] = prepare(work, sink, args.n, size, args.seed)
            sizes[size] = [run_once(templates[size], work, sink, args.pool, f"size{size}-{k}") for k in range(args.repeat)]
            print(f"  {size:>2} papers/digest: " + ", ".join(f"{r['cpu_ms']:.2f} ms CPU/email, {r['emails_per_s']:,.0f}/s"
                                                           for r in sizes[size]), flush=True)
        middle = 10 if 10 in sizes else args.sizes[0]
        cpu_ms = statistics.median(r["cpu_ms"] for r in sizes[middle])
        sys_ms = statistics.median(r["sys_ms"] for r in sizes[middle])
        try:
            figures["stages"] = (profile_stages(templates[middle], work, sink, args, cpu_ms, sys_ms)
                                 if args.profiles else None)
        except BenchError as err:  # py-spy missing: the other parts still stand
            print(f"  stages skipped: {err}")
            figures["stages"] = None
    finally:
        sink.stop()
    figures.update(load_after=os.getloadavg(), stage_papers=middle, stage_cpu_ms_per_email=cpu_ms,
                   sizes={str(size): runs for size, runs in sizes.items()})
    points = [(r["bytes_per_email"] / 1024, r["cpu_ms"]) for runs in sizes.values() for r in runs]
    if len({round(x) for x, _ in points}) > 1:
        fixed, per_kb = fit(points)
        figures["fit"] = {"fixed_ms_per_email": round(fixed, 3), "ms_per_kb": round(per_kb, 4)}
    return figures


def report(f: dict) -> None:
    print(f"\n`digest run --now` ({f['digest_package']}), {f['n']:,} subscribers x {f['n']:,} papers, pool {f['pool']}, disk-writing aiosmtpd "
          f"sink; load average {f['load_before'][0]:.2f} before, {f['load_after'][0]:.2f} after")
    print("| papers/digest | bytes/email | CPU ms/email | emails/s |")
    print("|---|---|---|---|")
    for size, runs in f["sizes"].items():
        cpu, eps = [r["cpu_ms"] for r in runs], [r["emails_per_s"] for r in runs]
        print(f"| {size} | {statistics.median(r['bytes_per_email'] for r in runs):,.0f} | {min(cpu):.2f}-{max(cpu):.2f} "
              f"| {min(eps):,.0f}-{max(eps):,.0f} |")
    if "fit" in f:
        print(f"CPU per email ~ {f['fit']['fixed_ms_per_email']:.2f} ms + {f['fit']['ms_per_kb']:.3f} ms per KB of message")
    if f.get("stages"):
        print(f"\nstages at {f['stage_papers']} papers/digest ({f['stage_cpu_ms_per_email']:.2f} ms CPU/email unprofiled; "
              f"py-spy --gil at {f['stages']['rate_hz']} Hz, {f['stages']['samples']:,} samples):")
        for stage, ms in sorted(f["stages"]["ms_per_email"].items(), key=lambda item: -item[1]):
            print(f"  {ms:6.3f} ms  {f['stages']['share'][stage]:6.1%}  {stage}")
    anatomy = f["sizes"].get(str(f["stage_papers"]), [{}])[0].get("anatomy", {})
    if anatomy:
        print("\none message: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in anatomy.items()))
    print(f"\nstart-up: digest --help {f['startup']['cpu_ms']} ms CPU; CLI imports {f['imports']['total_ms']} ms, by package: "
          + ", ".join(f"{name} {ms}" for name, ms in f["imports"]["by_package_ms"].items()))
    print(json.dumps(f))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="subscribers and papers")
    ap.add_argument("--repeat", type=int, default=2, help="unprofiled runs per size")
    ap.add_argument("--sizes", type=lambda text: [int(x) for x in text.split(",")], default=[3, 10, 20],
                    help="papers per digest, comma separated")
    ap.add_argument("--profiles", type=int, default=1, help="py-spy runs (0 = none)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (profiles, logs)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="profile-daily-"))
    started = time.perf_counter()
    try:
        figures = _profile(work, args)
    except BenchError as err:
        sys.exit(f"profile_daily_run: {err}")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    report(figures)
    return figures


if __name__ == "__main__":
    main()
