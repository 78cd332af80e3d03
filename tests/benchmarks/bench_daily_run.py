"""The whole daily run at scale: ingest, plan + rank, render, send — and a naive baseline.

    python tests/benchmarks/bench_daily_run.py --subscribers 10000 --papers 2000 [--processes N]
        [--workers N --database-url postgresql+psycopg://...] [--profiles [--like-sets 1000]]
        [--baseline [--baseline-sample N]] [--pool 8]

From an empty database (subscribers are created first, timed apart as `setup_s`): ingest
the day's papers, plan and rank every digest, render and send every message over the
real SmtpSender to an SMTP sink running in another process. Three ways to send:
`--processes 1` in this process as `digest run` does it (planning in a thread while it sends;
render is what the renderer spent),
`--processes N` as `digest run --processes N` does it (planning here, N sender processes
claiming from the outbox), `--workers N` with one planner here and N `digest worker`
processes (as a scale-out deployment; start-up counted in the wall time).
`--profiles`: every subscriber has 10 liked papers (of a 5,000-paper library ingested in
setup) and every second one has no query; profiles are fitted in setup (see
daily_setup.py), so the run pays what a steady day pays.

Prints wall, CPU (this process and its children), messages/s, peak RSS per process, and
checks the counts: messages at the sink == outbox rows sent == digests with papers, and no
Message-ID twice at the sink. With --baseline the same workload also runs the way simple
digest scripts do it (one SMTP connection per message, per-subscriber scoring without an
index, every paper rendered for every subscriber, one commit per message), timed on the
first `--baseline-sample` subscribers and scaled linearly when asked. The last line is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import resource
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import jinja2
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from digest.config import load_settings
from digest.jobs import ingest_bytes
from digest.jobs.dispatch import Dispatcher
from digest.jobs.planning import plan_digests
from digest.jobs.rendering import MailSetup, Renderer
from digest.jobs.workers import plan_and_send, plan_and_send_here
from digest.mail.smtp import SmtpConfig, SmtpSender
from digest.sources import parse_snapshot
from digest.store.db import open_engine
from digest.store.tables import deliveries
from tests.benchmarks.daily_setup import (
    add_likes_and_profiles,
    create_subscribers,
    ingest_library,
)
from tests.benchmarks.workload import Day, planned_at
from tests.smtp_server import spawn_sink

SECRET = "benchmark-secret-0123456789abcdefghij"
FROM = "Paper Digest <digest@example.org>"


def reset_peak_rss() -> None:
    """Linux: start this process's peak RSS afresh (setup must not count in the run's peak).
    Where /proc/self/clear_refs cannot be written, the printed peak includes the setup."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """This process's peak RSS since `reset_peak_rss` (Linux), else since it started."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024, 1)
    except (OSError, TypeError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class TimedRenderer(Renderer):
    """The real renderer, adding up the seconds it spends."""

    seconds = 0.0

    def message(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().message(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def settings_for(url: str, port: int, pool: int):
    return load_settings(database_url=url, smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=pool,
                         smtp_rate=1_000_000, secret_key=SECRET, base_url="https://digest.example.org",
                         DIGEST_FROM=FROM)


def setup(engine, day: Day, args) -> dict:
    """Subscribers (and for --profiles the library, likes and fitted profiles), timed apart."""
    started = time.perf_counter()
    cursor = ingest_library(engine, args.seed) if args.profiles else 0
    create_subscribers(engine, day, cursor=cursor, profiles=args.profiles)
    fitted = add_likes_and_profiles(engine, day.subscribers, min(args.like_sets, day.subscribers), args.seed) \
        if args.profiles else 0
    return {"setup_s": round(time.perf_counter() - started, 2), "profiles_fitted_in_setup": fitted}


def send_here(engine, settings) -> tuple[dict, dict]:
    """`digest run --processes 1`: plan in a thread while this process sends; render timed apart."""
    renderer = TimedRenderer(MailSetup.from_settings(settings))
    config = SmtpConfig.from_settings(settings)
    dispatcher = Dispatcher(engine, SmtpSender(config), MailSetup.from_settings(settings),
                            concurrency=config.pool_size, renderer=renderer)
    run = plan_and_send_here(engine, settings, force=True, now=planned_at(), dispatcher=dispatcher)
    return run.sent.as_dict(), {"plan_rank_s": round(run.plan_seconds, 2), "render_s": round(renderer.seconds, 2),
                                "planned": run.plan.planned, "skipped_empty": run.plan.skipped_empty,
                                "processes_rss_mb": [], "planner_rss_mb": run.plan.process_peak_rss_mb}


def send_in_processes(engine, settings, processes: int) -> tuple[dict, dict]:
    """`digest run --processes N`: planning here while N sender processes claim."""
    run = plan_and_send(engine, settings, processes=processes, force=True, now=planned_at())
    return run.sent.as_dict(), {"plan_rank_s": round(run.plan_seconds, 2), "planned": run.plan.planned,
                                "skipped_empty": run.plan.skipped_empty,
                                "processes_rss_mb": [s.peak_rss_mb for s in run.senders],
                                "planner_rss_mb": run.plan.process_peak_rss_mb}


def send_with_workers(engine, settings, url: str, workers: int, pool: int) -> tuple[dict, dict]:
    """One planner here, `workers` `digest worker` processes (started first); stopped when the outbox is empty."""
    env = {**os.environ, "DIGEST_DATABASE_URL": url, "DIGEST_SMTP_HOST": settings.smtp_host,
           "DIGEST_SMTP_PORT": str(settings.smtp_port), "DIGEST_SMTP_POOL_SIZE": str(pool),
           "DIGEST_SMTP_RATE": "1000000", "DIGEST_SECRET_KEY": SECRET, "DIGEST_FROM": FROM,
           "DIGEST_BASE_URL": "https://digest.example.org"}
    procs = [subprocess.Popen([sys.executable, "-m", "digest", "worker", "--poll", "0.2"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    started = time.perf_counter()
    plan = plan_digests(engine, planned_at(), force=True)
    plan_s = time.perf_counter() - started
    while (left := outbox_counts(engine)).get("queued", 0) + left.get("sending", 0):
        time.sleep(0.2)
    rss = []
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == 0, proc.stderr.read().decode()
        rss.append(round(usage.ru_maxrss / 1024, 1))
    counts = outbox_counts(engine)
    return {"sent": counts.get("sent", 0), "failed": counts.get("failed", 0)}, {
        "plan_rank_s": round(plan_s, 2), "planned": plan.planned, "skipped_empty": plan.skipped_empty,
        "processes_rss_mb": rss}


def outbox_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all())


def digests_with_papers(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(deliveries).where(deliveries.c.paper_count > 0)).scalar()


def run_ours(day: Day, url: str, port: int, args) -> dict:
    engine = open_engine(url)
    figures = setup(engine, day, args)
    settings = settings_for(url, port, args.pool)
    data = day.papers_json()
    reset_peak_rss()
    wall, cpu, child_cpu = time.perf_counter(), time.process_time(), children_cpu_s()
    ingested = ingest_bytes(engine, data, input="day.json")
    ingest_s = time.perf_counter() - wall
    if args.workers:
        sent, stages = send_with_workers(engine, settings, url, args.workers, args.pool)
    elif args.processes > 1:
        sent, stages = send_in_processes(engine, settings, args.processes)
    else:
        sent, stages = send_here(engine, settings)
    wall_s = time.perf_counter() - wall
    figures.update(stages, ingest_s=round(ingest_s, 2), wall_s=round(wall_s, 2),
                   cpu_s=round(time.process_time() - cpu, 2), children_cpu_s=round(children_cpu_s() - child_cpu, 2),
                   papers_new=ingested.new, sent=sent["sent"], failed=sent["failed"],
                   messages_per_s=round(sent["sent"] / max(wall_s, 1e-9)),
                   outbox_sent=outbox_counts(engine).get("sent", 0), digests_with_papers=digests_with_papers(engine))
    figures["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    return figures


# ---- the naive baseline: how a simple digest script does it ---------------------------------

BASELINE_TEMPLATE = jinja2.Template("""<html><head><style>
body { font-family: sans-serif; color: #222 } h2 { font-size: 18px; color: #0b5394 } p.by { color: #666 }
.snippet { background: #fff8dc; padding: 4px } a { color: #0b5394 } td { padding: 8px }
</style></head><body><table>{% for paper in papers %}<tr><td><h2><a href="{{ paper.url }}">{{ paper.title }}</a></h2>
<p class="by">{{ paper.authors }}</p><p class="snippet">{{ paper.abstract[:300] }}</p></td></tr>{% endfor %}
</table><p><a href="{{ unsubscribe }}">unsubscribe</a></p></body></html>""", autoescape=True)
_WORD = re.compile(r"[a-z0-9]+")


def naive_scores(query: str, papers: list) -> list:
    """Score every paper for one subscriber by re-reading its text: no index, no caching."""
    phrases = re.findall(r'"([^"]+)"', query)
    rest = re.sub(r'"[^"]+"', " ", query).split()
    excluded = [w[1:].lower() for w in rest if w.startswith("-")]
    words = [w.lower() for w in rest if not w.startswith("-")]
    scored = []
    for paper in papers:
        text = f"{paper.title} {paper.title} {paper.abstract}".lower()
        tokens = _WORD.findall(text)
        if any(e in tokens for e in excluded):
            continue
        score = sum(tokens.count(w) for w in words) + sum(3 * text.count(p.lower()) for p in phrases)
        if score:
            scored.append((score, paper))
    scored.sort(key=lambda item: -item[0])
    return [paper for _, paper in scored[:10]]


def run_baseline(day: Day, folder: Path, port: int, sample: int) -> dict:
    import css_inline  # the baseline's own dependency (a test extra): only --baseline needs it

    engine = open_engine(f"sqlite:///{folder / 'baseline.db'}")
    log = Table("sent_log", MetaData(), Column("id", Integer, primary_key=True), Column("email", String(320)))
    log.create(engine)
    people = list(islice(day.subscriber_rows(), sample))
    wall, cpu = time.perf_counter(), time.process_time()
    papers = parse_snapshot(day.papers_json()).papers  # parsing is the same for both: not what differs
    for person in people:
        chosen = naive_scores(person["interests"], papers)
        rows = [{"title": p.title, "url": p.url, "authors": ", ".join(p.authors), "abstract": p.abstract} for p in chosen]
        html = css_inline.inline(BASELINE_TEMPLATE.render(papers=rows, unsubscribe="https://digest.example.org/u"))
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "digest@example.org", person["email"], "Your papers"
        message.set_content("\n\n".join(f"{r['title']}\n{r['url']}" for r in rows) or "nothing today")
        message.add_alternative(html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:  # one connection per message
            smtp.sendmail("digest@example.org", [person["email"]], message.as_bytes())
        with engine.begin() as conn:  # one commit per message
            conn.execute(insert(log), {"email": person["email"]})
    measured = time.perf_counter() - wall
    scale = day.subscribers / max(len(people), 1)
    engine.dispose()
    return {"baseline_measured_subscribers": len(people), "baseline_measured_s": round(measured, 2),
            "baseline_wall_s": round(measured * scale, 2), "baseline_cpu_s": round((time.process_time() - cpu) * scale, 2),
            "baseline_extrapolated": scale != 1}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--pool", type=int, default=8, help="SMTP connections (per sending process)")
    parser.add_argument("--processes", type=int, default=1, help="sender processes, as `digest run --processes N`")
    parser.add_argument("--workers", type=int, default=0, help="`digest worker` processes beside one planner")
    parser.add_argument("--profiles", action="store_true", help="10 likes each, half without a query")
    parser.add_argument("--like-sets", type=int, default=1000, help="distinct sets of likes (one fit each in setup)")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--baseline-sample", type=int, default=None, help="time the baseline on this many subscribers")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.workers and not (args.database_url or "").startswith("postgresql"):
        parser.error("--workers needs --database-url of a PostgreSQL database (workers on SQLite share one host)")
    return args


def main() -> None:
    args = arguments()
    day = Day(papers=args.papers, subscribers=args.subscribers, seed=args.seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    url = args.database_url or f"sqlite:///{folder / 'digest.db'}"
    how = f"{args.workers} workers" if args.workers else f"{args.processes} process{'es' * (args.processes > 1)}"
    with spawn_sink(engine="fast", dump=folder / "sink.json") as sink:
        figures = {"subscribers": args.subscribers, "papers": args.papers, "database": url.split(":")[0],
                   "senders": how, "profiles": args.profiles}
        figures.update(run_ours(day, url, sink.port, args))
        if args.baseline:
            figures.update(run_baseline(day, folder, sink.port, min(args.baseline_sample or args.subscribers, args.subscribers)))
            figures["speedup"] = round(figures["baseline_wall_s"] / figures["wall_s"], 1)
        time.sleep(0.6)
        received = sink.stop()
    ids = collections.Counter(received["message_ids"])
    figures.update(sink_received=received["count"], sink_duplicates=sum(n - 1 for n in ids.values()))
    figures["counts_ok"] = (figures["sink_received"] - (figures.get("baseline_measured_subscribers") or 0)
                            == figures["outbox_sent"] == figures["digests_with_papers"] == figures["sent"]
                            and figures["sink_duplicates"] == 0)
    report(figures)


def report(f: dict) -> None:
    print(f"daily run: {f['subscribers']:,} subscribers x {f['papers']:,} papers on {f['database']}, {f['senders']}"
          + (", profiles (10 likes each, half without a query)" if f["profiles"] else ""))
    print(f"  setup (not timed below): {f['setup_s']} s, {f['profiles_fitted_in_setup']} profiles fitted")
    stages = f"ingest {f['ingest_s']} s | plan+rank {f['plan_rank_s']} s"
    stages += " (sending overlapped it)"
    if "render_s" in f:
        stages += f" | render {f['render_s']} s (in its thread, sharing the GIL)"
    print(f"  {stages}")
    print(f"  wall {f['wall_s']} s, CPU {f['cpu_s']} s here + {f['children_cpu_s']} s in sender processes; "
          f"peak RSS (run only) {f['peak_rss_mb']} MB here, senders {f['processes_rss_mb']} MB"
          + (f", planner process {f['planner_rss_mb']} MB" if f.get("planner_rss_mb") else ""))
    print(f"  {f['sent']:,} sent ({f['skipped_empty']:,} empty digests skipped), {f['messages_per_s']:,} messages/s "
          "over the whole wall time")
    print(f"  counts: sink {f['sink_received']:,} ({f['sink_duplicates']} duplicate Message-IDs), outbox sent "
          f"{f['outbox_sent']:,}, digests with papers {f['digests_with_papers']:,}: {'OK' if f['counts_ok'] else 'MISMATCH'}")
    if "speedup" in f:
        how = (f"measured on {f['baseline_measured_subscribers']:,} subscribers in {f['baseline_measured_s']} s and scaled"
               if f["baseline_extrapolated"] else "measured on all subscribers")
        print(f"  naive baseline: {f['baseline_wall_s']} s ({how}) -> ours is {f['speedup']}x faster")
    print(json.dumps(f))


if __name__ == "__main__":
    main()
