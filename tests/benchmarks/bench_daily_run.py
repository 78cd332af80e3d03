"""The whole daily run at scale: ingest, plan + rank, render, send — and a naive baseline.

    python tests/benchmarks/bench_daily_run.py --subscribers 10000 --papers 2000 [--baseline]
        [--baseline-sample N] [--database-url postgresql+psycopg://...] [--pool 8]

From an empty database (subscribers are created first, timed apart as `setup_s`): ingest
the day's papers, plan and rank every digest, render and send every message over the
real SmtpSender to an SMTP sink running in another process. Prints per-stage seconds,
wall and CPU time, peak RSS and messages/s. With --baseline the same workload also runs the
way simple digest scripts do it (one SMTP connection per message, per-subscriber scoring
without an index, every paper rendered for every subscriber, one commit per message) and
the speed-up is printed. `--baseline-sample N` times the baseline on the first N
subscribers and scales it linearly (said so in the output) when the full run would take
too long. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
from itertools import islice
import asyncio
import json
import re
import resource
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import css_inline  # noqa: E402
import jinja2  # noqa: E402
from sqlalchemy import Column, Integer, MetaData, String, Table, insert  # noqa: E402

from digest.config import load_settings  # noqa: E402
from digest.jobs import ingest_bytes  # noqa: E402
from digest.jobs.dispatch import Dispatcher  # noqa: E402
from digest.jobs.planning import plan_digests  # noqa: E402
from digest.jobs.rendering import MailSetup, Renderer  # noqa: E402
from digest.mail.smtp import SmtpConfig, SmtpSender  # noqa: E402
from digest.sources import parse_snapshot  # noqa: E402
from digest.store.bulk import insert_rows  # noqa: E402
from digest.store.db import open_engine, write_transaction  # noqa: E402
from digest.store.subscribers import new_row  # noqa: E402
from digest.store.tables import subscribers  # noqa: E402
from digest.subscribers import SubscriberSpec  # noqa: E402
from tests.benchmarks.workload import Day, planned_at  # noqa: E402
from tests.smtp_server import spawn_sink  # noqa: E402

SECRET = "benchmark-secret-0123456789abcdefghij"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedRenderer(Renderer):
    """The real renderer, adding up the seconds it spends."""

    seconds = 0.0

    def message(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().message(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def create_subscribers(engine, day: Day) -> None:
    """Insert the day's subscribers 10,000 at a time (setup must not inflate the peak RSS)."""
    now = planned_at()
    people = day.subscriber_rows()
    while batch := [new_row(SubscriberSpec(**fields), now=now, cursor=0) for fields in islice(people, 10_000)]:
        with write_transaction(engine) as conn:
            insert_rows(conn, subscribers, batch)


def settings_for(port: int, pool: int):
    return load_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=pool, smtp_rate=1_000_000,
                         secret_key=SECRET, base_url="https://digest.example.org",
                         **{"DIGEST_FROM": "Paper Digest <digest@example.org>"})


async def send_all(engine, settings, renderer: TimedRenderer) -> dict:
    config = SmtpConfig.from_settings(settings)
    async with SmtpSender(config) as sender:
        dispatcher = Dispatcher(engine, sender, MailSetup.from_settings(settings), concurrency=config.pool_size,
                                renderer=renderer)
        return (await dispatcher.drain()).as_dict()


def run_ours(day: Day, url: str, port: int, pool: int) -> dict:
    engine = open_engine(url)
    started = time.perf_counter()
    create_subscribers(engine, day)
    setup_s = time.perf_counter() - started
    data = day.papers_json()
    wall, cpu = time.perf_counter(), time.process_time()
    ingested = ingest_bytes(engine, data, input="day.json")
    ingest_s = time.perf_counter() - wall
    plan = plan_digests(engine, planned_at(), force=True)
    plan_s = time.perf_counter() - wall - ingest_s
    settings = settings_for(port, pool)
    renderer = TimedRenderer(MailSetup.from_settings(settings))
    sent = asyncio.run(send_all(engine, settings, renderer))
    wall_s = time.perf_counter() - wall
    cpu_s = time.process_time() - cpu
    engine.dispose()
    render_s = renderer.seconds
    return {
        "setup_s": round(setup_s, 2), "ingest_s": round(ingest_s, 2), "plan_rank_s": round(plan_s, 2),
        "render_s": round(render_s, 2), "send_s": round(wall_s - ingest_s - plan_s - render_s, 2),
        "wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2), "papers_new": ingested.new,
        "planned": plan.planned, "skipped_empty": plan.skipped_empty, "sent": sent["sent"],
        "failed": sent["failed"], "messages_per_s": round(sent["sent"] / max(wall_s - ingest_s - plan_s, 1e-9)),
    }


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--pool", type=int, default=8, help="SMTP connections")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--baseline-sample", type=int, default=None, help="time the baseline on this many subscribers")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    day = Day(papers=args.papers, subscribers=args.subscribers, seed=args.seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    url = args.database_url or f"sqlite:///{folder / 'digest.db'}"
    with spawn_sink(engine="fast", count_only=True, dump=folder / "sink.json") as sink:
        figures = {"subscribers": args.subscribers, "papers": args.papers, "database": url.split(":")[0]}
        figures.update(run_ours(day, url, sink.port, args.pool))
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if args.baseline:
            figures.update(run_baseline(day, folder, sink.port, min(args.baseline_sample or args.subscribers, args.subscribers)))
            figures["speedup"] = round(figures["baseline_wall_s"] / figures["wall_s"], 1)
        time.sleep(0.6)
        figures["sink_received"] = sink.stop()["count"]
    report(figures)


def report(f: dict) -> None:
    print(f"daily run: {f['subscribers']:,} subscribers x {f['papers']:,} papers on {f['database']}")
    print(f"  setup (create subscribers, not timed below): {f['setup_s']} s")
    print(f"  ingest {f['ingest_s']} s | plan+rank {f['plan_rank_s']} s | render {f['render_s']} s | send {f['send_s']} s")
    print(f"  wall {f['wall_s']} s, CPU {f['cpu_s']} s, peak RSS {f['peak_rss_mb']} MB")
    print(f"  {f['sent']:,} sent ({f['skipped_empty']:,} empty digests skipped), {f['messages_per_s']:,} messages/s; "
          f"the sink received {f['sink_received']:,}")
    if "speedup" in f:
        how = (f"measured on {f['baseline_measured_subscribers']:,} subscribers in {f['baseline_measured_s']} s and scaled"
               if f["baseline_extrapolated"] else "measured on all subscribers")
        print(f"  naive baseline: {f['baseline_wall_s']} s ({how}) -> ours is {f['speedup']}x faster")
    print(json.dumps(f))


if __name__ == "__main__":
    main()
