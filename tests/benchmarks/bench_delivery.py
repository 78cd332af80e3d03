"""Benchmark delivery: render digests (Composer) and serialise them to MIME (build_message).

    python tests/benchmarks/bench_delivery.py [--subscribers 5000] [--papers 300] [--per-digest 10] [--seed 7]

Generated data with realistic sizes: a day's pool of papers (titles ~90 characters,
abstracts ~1,200, 2-12 authors, upvotes Pareto-distributed, arXiv or HF links) and
subscribers who each get `--per-digest` papers drawn Zipf-like from the pool, so
popular papers are shared as in real runs; snippets are ~200 characters with <b>
marks, matched terms 1-3. A fifth of names and a few topics are non-ASCII.

Everything runs in this process on one core. The Composer is built once (as a run
would) and that cost is reported apart; per-paper fragments are rendered inside the
timed loop the first time a paper appears, as in a real run. The last line printed is
one JSON object with every figure. Target: >= 1,500 messages/s render + serialise.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time
from datetime import datetime, timezone

TARGET_PER_SECOND = 1500

WORDS = (
    "token pooling normalization transformer attention sparse mixture experts diffusion "
    "retrieval augmented generation reasoning benchmark alignment preference optimization "
    "vision language model graph neural network quantization pruning distillation scaling "
    "law contrastive learning reinforcement policy gradient reward robust adversarial "
    "causal inference federated privacy efficient inference long context memory agent "
    "planning tool use speech recognition protein structure molecule weather forecasting "
    "we propose show that our method outperforms baselines across tasks with fewer "
    "parameters and compute while remaining simple to implement the of a in on for"
).split()
TOPICS = ["token pooling", "normalization", "diffusion", "retrieval", "quantization", "alignment",
          "graph neural network", "long context", "mixture of experts", "réseaux", "自己教師あり学習"]
FIRST = ["Ada", "Alan", "Grace", "Zoë", "José", "Łukasz", "Chen", "Priya", "Olu", "Ingrid", "Mei", "Søren"]
LAST = ["Lovelace", "Turing", "Hopper", "Ångström", "García", "Nowak", "Wei", "Raman", "Adeyemi", "Berg"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _text_of_length(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def make_papers(n: int, rng: random.Random):
    from digest.models import Paper

    papers = []
    for k in range(1, n + 1):
        arxiv = f"26{rng.randint(1, 12):02d}.{rng.randint(1, 29999):05d}"
        hf_only = rng.random() < 0.2
        authors = tuple(f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(2, 12)))
        papers.append(
            Paper(
                title=_text_of_length(rng, rng.randint(60, 120)).capitalize(),
                abstract=_text_of_length(rng, rng.randint(1000, 1400)),
                arxiv_id=None if hf_only else arxiv,
                authors=() if hf_only and rng.random() < 0.5 else authors,
                organization="Example AI Lab" if hf_only else None,
                upvotes=int(rng.paretovariate(1.2)) - 1 if hf_only or rng.random() < 0.5 else None,
                links={"hf": f"https://huggingface.co/papers/{arxiv}"} if hf_only else {"abs": f"https://arxiv.org/abs/{arxiv}", "pdf": f"https://arxiv.org/pdf/{arxiv}"},
                key=f"bench:{k}",
                id=k,
            )
        )
    return papers


def _snippet(rng: random.Random, terms: list[str]) -> str:
    # ~200 characters of escaped text with the matched terms in <b>.
    parts = []
    for term in terms:
        parts.append(_sentence(rng, rng.randint(4, 9)))
        parts.append(f"<b>{term}</b>")
    parts.append(_sentence(rng, rng.randint(6, 12)))
    text = " ".join(parts)
    return "…" + text[:230] + "…" if len(text) > 230 else text


def make_digests(subscribers: int, papers, per_digest: int, rng: random.Random):
    from digest.models import Digest, RankedPaper, Subscriber

    weights = [1 / (rank ** 0.9) for rank in range(1, len(papers) + 1)]
    digests = []
    for s in range(1, subscribers + 1):
        topics = rng.sample(TOPICS, rng.randint(1, 3))
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.6 else None
        sub = Subscriber(
            email=f"user{s}.{''.join(rng.choices(string.ascii_lowercase, k=5))}@example.com",
            interests=" OR ".join(f'"{t}"' if " " in t else t for t in topics),
            id=s,
            name=name,
            status="active",
            feed_token=f"{s:08x}",
        )
        chosen: dict[int, object] = {}
        while len(chosen) < per_digest:
            paper = rng.choices(papers, weights)[0]
            chosen[paper.id] = paper
        ranked = []
        for rank, paper in enumerate(chosen.values()):
            matched = rng.sample(topics, rng.randint(1, len(topics)))
            ranked.append(RankedPaper(paper=paper, score=10.0 - rank, matched=tuple(matched), snippet=_snippet(rng, matched)))
        digests.append(Digest(subscriber=sub, period="Fri 21 Nov 2025", papers=ranked, delivery_id=100_000 + s))
    return digests


def bench_render(subscribers: int = 5000, papers: int = 300, per_digest: int = 10, seed: int = 7) -> dict:
    """Render and serialise one digest per subscriber; return the figures as a dict.

    Keys: messages, seconds, messages_per_second, render_seconds, serialise_seconds,
    compose_setup_ms, avg_message_bytes, avg_html_chars, avg_text_chars,
    fragments_rendered, papers_in_pool, per_digest, target_per_second, meets_target.
    """
    from digest.compose import Composer, Links
    from digest.mail.message import build_message, make_message_id

    rng = random.Random(seed)
    pool = make_papers(papers, rng)
    digests = make_digests(subscribers, pool, per_digest, rng)
    base = "https://digest.example.org"

    setup_start = time.perf_counter()
    composer = Composer(site_name="Paper Digest", base_url=base + "/")
    setup = time.perf_counter() - setup_start
    date = datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc)

    render_time = serialise_time = 0.0
    total_bytes = html_chars = text_chars = 0
    clock = time.perf_counter
    for digest in digests:
        sub = digest.subscriber
        token = f"{sub.id}.{sub.feed_token}.Zm9vYmFyYmF6cXV4cXV1eA.c2lnbmF0dXJlc2lnbmF0dXJlcw"  # itsdangerous-sized
        links = Links(
            manage_url=f"{base}/manage/{token}",
            unsubscribe_url=f"{base}/unsubscribe/{token}",
            feed_url=f"{base}/feed/{sub.feed_token}.atom",
        )
        t0 = clock()
        email = composer.render_digest(digest, links)
        t1 = clock()
        raw = build_message(
            from_addr="digest@digest.example.org",
            from_name="Paper Digest",
            to_addr=sub.email,
            to_name=sub.name,
            subject=email.subject,
            text=email.text,
            html=email.html,
            message_id=make_message_id(digest.delivery_id, "digest.example.org"),
            date=date,
            list_id="daily.digest.example.org",
            list_unsubscribe_url=links.unsubscribe_url,
            list_unsubscribe_mailto=f"mailto:unsubscribe+{sub.id}@digest.example.org",
        )
        t2 = clock()
        render_time += t1 - t0
        serialise_time += t2 - t1
        total_bytes += len(raw)
        html_chars += len(email.html)
        text_chars += len(email.text)

    n = len(digests)
    seconds = render_time + serialise_time
    rate = n / seconds if seconds else 0.0
    return {
        "messages": n,
        "seconds": round(seconds, 3),
        "messages_per_second": round(rate, 1),
        "render_seconds": round(render_time, 3),
        "serialise_seconds": round(serialise_time, 3),
        "render_us_per_message": round(render_time / n * 1e6, 1),
        "serialise_us_per_message": round(serialise_time / n * 1e6, 1),
        "compose_setup_ms": round(setup * 1000, 1),
        "avg_message_bytes": round(total_bytes / n),
        "avg_html_chars": round(html_chars / n),
        "avg_text_chars": round(text_chars / n),
        "fragments_rendered": composer.fragments_rendered,
        "papers_in_pool": papers,
        "per_digest": per_digest,
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": rate >= TARGET_PER_SECOND,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=5000)
    ap.add_argument("--papers", type=int, default=300, help="papers in the day's pool")
    ap.add_argument("--per-digest", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    render = bench_render(args.subscribers, args.papers, args.per_digest, args.seed)
    print(f"render + serialise: {render['messages']} messages in {render['seconds']} s "
          f"= {render['messages_per_second']:,.0f} messages/s on one core (target {TARGET_PER_SECOND:,})")
    print(f"  render {render['render_us_per_message']} us/message, serialise {render['serialise_us_per_message']} us/message, "
          f"Composer setup {render['compose_setup_ms']} ms, {render['fragments_rendered']} paper fragments rendered")
    print(f"  average message {render['avg_message_bytes']:,} bytes (html {render['avg_html_chars']:,} chars, text {render['avg_text_chars']:,} chars)")
    figures = {"render": render}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
