"""Ingest throughput: parse, diff and store a generated 100k-paper snapshot.

    python tests/benchmarks/bench_ingest.py [--papers 100000] [--database-url URL]

First stores a snapshot of N papers into an empty database (these are the "already seen"
papers), then ingests a second snapshot of N papers, half of them already seen (a third of
those with new upvote counts) and half new. Prints papers/s for parse alone, for
parse+diff (pure, against the N known papers) and for the whole parse+diff+store.
The last line is one JSON object with the figures. Target: parse+diff+store >= 20,000/s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from digest.diff import dedupe, diff_snapshot
from digest.jobs import gc_paused, ingest_bytes
from digest.sources import parse_snapshot
from digest.store import papers as paper_store
from digest.store.db import open_engine

WORDS = (
    "neural network pooling token attention transformer diffusion model language vision data filtering "
    "pruning convolution retrieval dense sparse training inference efficient scaling benchmark robust "
    "generation segmentation embedding graph reinforcement learning alignment quantization distillation"
).split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_snapshot(rng: random.Random, ids: range, upvote_shift: int = 0) -> bytes:
    """A HF page text (metadata layout) listing papers numbered by `ids`."""
    blocks = ["new", "Get trending papers in your email inbox!", "Subscribe", "Daily Papers",
              "byAK and the research community", "Nov 20"]
    for number in ids:
        local = random.Random(number)
        title = f"{sentence(local, 8)[:-1]} {number}"
        abstract = " ".join(sentence(local, 16) for _ in range(10))
        upvotes = number % 50 + (upvote_shift if number % 3 == 0 else 0)
        blocks += [title, abstract, f"  • {number % 9 + 1} authors", "·", f"Nov {number % 28 + 1}, 2026 {upvotes}"]
    return ("\n\n".join(blocks) + "\n").encode()


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def cpu_timed(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds): CPU time is steadier on a shared VM."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(papers: int, database_url: str | None) -> dict:
    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    engine = open_engine(database_url or f"sqlite:///{folder / 'bench.db'}")
    seen = make_snapshot(rng, range(papers))
    second = make_snapshot(rng, range(papers // 2, papers + papers // 2), upvote_shift=5)

    first_report, first_s = timed(ingest_bytes, engine, seen, input="seen")
    with gc_paused():  # as ingest_bytes runs them
        parsed, parse_s = timed(parse_snapshot, second, input="second")
        unique, dedupe_s = timed(dedupe, parsed.papers)
        with engine.connect() as conn:
            known, load_s = timed(paper_store.load_known, conn, unique)
        diff, diff_s = timed(diff_snapshot, unique, known)
    report, total_s, total_cpu_s = cpu_timed(ingest_bytes, engine, second, input="second")
    engine.dispose()
    assert report.new == papers - papers // 2 and report.new + report.updated + report.unchanged == papers
    return {
        "papers": papers,
        "snapshot_mb": round(len(second) / 1e6, 1),
        "store_into_empty_per_s": round(papers / first_s),
        "parse_per_s": round(papers / parse_s),
        "parse_diff_per_s": round(papers / (parse_s + dedupe_s + load_s + diff_s)),
        "parse_diff_store_per_s": round(papers / total_s),
        "parse_diff_store_per_cpu_s": round(papers / total_cpu_s),
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "database": engine.dialect.name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    figures = run(args.papers, args.database_url)
    print(f"snapshot: {figures['papers']:,} papers, {figures['snapshot_mb']} MB, against {figures['papers']:,} already seen")
    print(f"store into empty database: {figures['store_into_empty_per_s']:>9,} papers/s")
    print(f"parse:                     {figures['parse_per_s']:>9,} papers/s")
    print(f"parse + diff:              {figures['parse_diff_per_s']:>9,} papers/s")
    print(f"parse + diff + store:      {figures['parse_diff_store_per_s']:>9,} papers/s   (target >= 20,000)")
    print(f"  the same per CPU second:  {figures['parse_diff_store_per_cpu_s']:>9,} papers/s   (steadier on a shared machine)")
    print(f"result: {figures['new']:,} new, {figures['updated']:,} updated, {figures['unchanged']:,} unchanged")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
