"""Benchmark digest.ranking against a naive rank_bm25 loop on generated papers and subscribers.

    python tests/benchmarks/bench_ranking.py [--papers 2000] [--subscribers 100000] [--seed 7]

Papers draw title and abstract words Zipf-like from the vocabulary of the fixture texts under
digest/samples/. Subscriber queries hold 1-5 terms (words, quoted bigrams, -exclusions,
title:/author: terms) and are drawn Zipf-like from a pool, so popular queries repeat as with
real users. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "digest" / "samples"
WORD = re.compile(r"[A-Za-z][A-Za-z-]{2,}")
MAX_PAPERS = 10


def fixture_texts() -> tuple[list[str], list[str]]:
    """(prose, author names) from the sample files; markup and JSON keys are dropped."""
    prose, names = [], []
    for path in sorted(SAMPLES.rglob("*")):
        if path.suffix == ".json":
            for item in json.loads(path.read_text()):
                paper = item.get("paper", item)
                prose += [paper.get("title", ""), paper.get("summary", "")]
                names += [a["name"] for a in paper.get("authors", []) if a.get("name")]
        elif path.suffix in (".xml", ".txt"):
            text = re.sub(r"<[^>]+>|&\w+;|https?://\S+", " ", path.read_text(errors="replace"))
            prose.append(text)
    return prose, names


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1 / (r ** s) for r in range(1, n + 1)]


def make_papers(n: int, rng: random.Random):
    from digest.models import Paper

    prose, names = fixture_texts()
    counts = Counter(w.lower() for text in prose for w in WORD.findall(text))
    vocab = [w for w, _ in counts.most_common()]
    weights = zipf_weights(len(vocab))
    papers = []
    for k in range(1, n + 1):
        title = " ".join(rng.choices(vocab, weights, k=rng.randint(5, 12))).capitalize()
        abstract = " ".join(rng.choices(vocab, weights, k=rng.randint(100, 220))) + "."
        papers.append(Paper(title=title, abstract=abstract, authors=tuple(rng.sample(names, 4)),
                            upvotes=int(rng.paretovariate(1.2)) - 1, key=f"bench:{k}", id=k,
                            published=date(2026, 6, 1) + timedelta(days=k * 10 // n)))
    return papers, vocab


def make_queries(count: int, vocab: list[str], papers, rng: random.Random) -> list[str]:
    """`count` subscriber queries drawn Zipf-like from a pool of count // 5 distinct ones."""
    topical = vocab[50:3000]  # users search topics, not "the"
    weights = zipf_weights(len(topical), 0.8)
    surnames = sorted({a.split()[-1] for p in papers for a in p.authors})

    def term() -> str:
        roll = rng.random()
        if roll < 0.15:
            words = rng.choice(papers).abstract.split()
            at = rng.randrange(len(words) - 1)
            return f'"{words[at]} {words[at + 1].rstrip(".")}"'
        if roll < 0.20:
            return f"author:{rng.choice(surnames).lower()}"
        if roll < 0.25:
            return f"title:{rng.choices(topical, weights)[0]}"
        return rng.choices(topical, weights)[0]

    pool = []
    for _ in range(max(count // 5, 1)):
        terms = [term() for _ in range(rng.randint(1, 5))]
        if len(terms) > 1 and rng.random() < 0.3:
            terms[-1] = "-" + rng.choices(topical, weights)[0]
        if len(terms) > 2 and rng.random() < 0.2:
            terms.insert(1, "OR")
        pool.append(" ".join(terms))
    return rng.choices(pool, zipf_weights(len(pool), 0.9), k=count)


def make_subscribers(queries: list[str], n_papers: int, rng: random.Random):
    from digest.models import Subscriber

    # Most cursors sit at the start of the candidate window; weekly or lapsed ones further on.
    cursors = [0] * 7 + [n_papers * k // 5 for k in range(1, 4)]
    return [Subscriber(email=f"s{k}@example.org", interests=q, max_papers=MAX_PAPERS,
                       min_score=rng.choice([0.0, 0.0, 0.0, 2.0]), cursor=rng.choice(cursors), id=k)
            for k, q in enumerate(queries)]


def naive_baseline(papers, subscribers, sample: int) -> tuple[float, float]:
    """(wall, CPU) seconds per subscriber for rank_bm25 over all papers: score, filter, sort.
    No stemming, phrases, matched terms or snippets: it does less than digest.ranking."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    token_lists = [WORD.findall(f"{p.title} {p.abstract}".lower()) for p in papers]
    token_sets = [set(t) for t in token_lists]
    bm25 = BM25Okapi(token_lists)
    ids = np.array([p.id for p in papers])
    chosen = subscribers[:sample]
    start, cpu = time.perf_counter(), time.process_time()
    for sub in chosen:
        words = [w.lower() for w in re.findall(r'-?[\w:-]+', sub.interests) if w != "OR"]
        positive = [w.split(":")[-1] for w in words if not w.startswith("-")]
        excluded = {w[1:] for w in words if w.startswith("-")}
        scores = bm25.get_scores(positive)
        keep = (ids > sub.cursor) & (scores > max(sub.min_score, 0.0))
        if excluded:
            keep &= np.array([not (excluded & words) for words in token_sets])
        order = np.flatnonzero(keep)[np.argsort(-scores[keep], kind="stable")][:sub.max_papers]
        [papers[k] for k in order]
    n = max(len(chosen), 1)
    return (time.perf_counter() - start) / n, (time.process_time() - cpu) / n


def main(argv: list[str] | None = None) -> dict:
    from digest.ranking import build_index, rank, rank_subscribers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=2000)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline-sample", type=int, default=2000)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    papers, vocab = make_papers(args.papers, rng)
    queries = make_queries(args.subscribers, vocab, papers, rng)
    subscribers = make_subscribers(queries, args.papers, rng)
    distinct = len(set(queries))

    start = time.perf_counter()
    index = build_index(papers)
    index_s = time.perf_counter() - start

    start, cpu = time.perf_counter(), time.process_time()
    delivered = sum(len(found) for _, found in rank_subscribers(index, subscribers))
    rank_s, rank_cpu = time.perf_counter() - start, time.process_time() - cpu
    qps, cpu_qps = len(subscribers) / rank_s, len(subscribers) / rank_cpu

    # What the planner runs: matched terms, no snippets (the sender highlights at render time).
    planner_index = build_index(papers)
    start = time.perf_counter()
    planned = sum(len(found) for _, found in rank_subscribers(planner_index, subscribers, snippets=False))
    plan_s = time.perf_counter() - start
    plan_qps = len(subscribers) / plan_s
    assert planned == delivered

    # Worst case: no two subscribers share a query, so no cache helps (fresh index).
    unique = list(dict.fromkeys(queries))[:5000]
    fresh = build_index(papers)
    start = time.perf_counter()
    for q in unique:
        rank(fresh, q, limit=MAX_PAPERS)
    uncached_qps = len(unique) / (time.perf_counter() - start)

    per_sub, per_sub_cpu = naive_baseline(papers, subscribers, args.baseline_sample)
    baseline_qps, baseline_cpu_qps = 1 / per_sub, 1 / per_sub_cpu
    figures = {
        "papers": len(papers), "subscribers": len(subscribers), "distinct_queries": distinct,
        "index_seconds": round(index_s, 3), "rank_seconds": round(rank_s, 3),
        "queries_per_second": round(qps), "cpu_queries_per_second": round(cpu_qps),
        "uncached_queries_per_second": round(uncached_qps),
        "papers_delivered": delivered, "baseline_queries_per_second": round(baseline_qps, 1),
        "baseline_cpu_queries_per_second": round(baseline_cpu_qps, 1),
        "baseline_extrapolated_seconds": round(per_sub * len(subscribers), 1),
        "planner_seconds": round(plan_s, 3), "planner_queries_per_second": round(plan_qps),
        "planner_speedup_vs_baseline": round(plan_qps / baseline_qps, 1),
        "speedup_vs_baseline": round(qps / baseline_qps, 1),
        "cpu_speedup_vs_baseline": round(cpu_qps / baseline_cpu_qps, 1),
        "uncached_speedup_vs_baseline": round(uncached_qps / baseline_qps, 1),
    }
    print(f"papers {len(papers)}, subscribers {len(subscribers)} ({distinct} distinct queries)")
    print(f"index build            {index_s * 1000:9.1f} ms")
    print(f"rank_subscribers       {rank_s:9.2f} s   {qps:10.0f} queries/s  (incl. matched + snippets)")
    print(f"  on CPU time          {rank_cpu:9.2f} s   {cpu_qps:10.0f} queries/s  (wall time suffers on a busy host)")
    print(f"as the planner runs it {plan_s:9.2f} s   {plan_qps:10.0f} queries/s  (matched terms; snippets at render)")
    print(f"distinct, no caching   {uncached_qps:10.0f} queries/s over {len(unique)} queries")
    print(f"rank_bm25 baseline     {baseline_qps:10.1f} queries/s  "
          f"(sample {args.baseline_sample}, ~{per_sub * len(subscribers):.0f} s for all)")
    print(f"speedup                {figures['speedup_vs_baseline']:9.1f}x with snippets, "
          f"{figures['planner_speedup_vs_baseline']}x as planned (target >= 20x; "
          f"CPU time {figures['cpu_speedup_vs_baseline']}x; uncached {figures['uncached_speedup_vs_baseline']}x)")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
