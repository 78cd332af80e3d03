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
import asyncio
import json
import os
import random
import ssl
import string
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

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
    from digest.mail.message import build_message
    from digest.mail.message_ids import make_message_id

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


# -- SMTP sending ------------------------------------------------------------------------

SEND_TARGET_PER_SECOND = 1000
SEND_TARGET_RATIO = 3.0


def make_outgoing(n: int, rng: random.Random, size: int = 25_000) -> list:
    """`n` pre-serialised digest-sized messages (~`size` bytes each) as `Outgoing`."""
    from digest.mail.message import build_message
    from digest.mail.message_ids import make_message_id
    from digest.mail.sender import Outgoing

    date = datetime(2025, 11, 21, 7, 0, tzinfo=timezone.utc)
    # Bodies are drawn once and sliced per message: building is not what is measured.
    text_pool = _text_of_length(rng, size)
    html_pool = "<p>" + _text_of_length(rng, size * 2).replace(" of ", " of <b>x</b> ") + "</p>"
    out = []
    for k in range(n):
        start = rng.randint(0, 200)
        to = f"user{k}@example.com"
        data = build_message(
            from_addr="digest@digest.example.org", from_name="Paper Digest", to_addr=to, to_name=None,
            subject=f"10 new papers for you ({k})",
            text=text_pool[start : start + size * 3 // 10], html=html_pool[start : start + size * 6 // 10],
            message_id=make_message_id(500_000 + k, "digest.example.org"), date=date,
            list_id="daily.digest.example.org",
            list_unsubscribe_url=f"https://digest.example.org/unsubscribe/{k}",
        )
        out.append(Outgoing(500_000 + k, "bounces@digest.example.org", (to,), data))
    return out


async def _run_workers(messages: list, concurrency: int, send_one) -> tuple[float, float, int]:
    """Send all `messages` with `concurrency` workers; (wall s, CPU s of this process, failures)."""
    queue = iter(messages)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for message in queue:
            if not await send_one(message):
                failures += 1

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu, failures


async def _send_pooled(config, messages: list, concurrency: int) -> tuple[float, float, int, int]:
    from digest.mail.smtp import SmtpSender

    async with SmtpSender(config) as sender:
        async def one(message) -> bool:
            return (await sender.send(message)).ok

        wall, cpu, failures = await _run_workers(messages, concurrency, one)
        return wall, cpu, failures, sender.connections_opened


async def _send_connection_per_message(config, messages: list, concurrency: int) -> tuple[float, float, int]:
    """The same transaction code, but open, send and QUIT a new connection per message."""
    from dataclasses import replace

    from digest.mail.smtp import SmtpSender

    single = replace(config, pool_size=1)

    async def one(message) -> bool:
        async with SmtpSender(single) as sender:
            return (await sender.send(message)).ok

    return await _run_workers(messages, concurrency, one)


async def _send_naive(config, messages: list, concurrency: int) -> tuple[float, float, int]:
    """What a first version would write: `aiosmtplib.send()` (connect, sendmail, QUIT) per message."""
    import aiosmtplib

    tls = config.security == "starttls"
    options = dict(hostname=config.host, port=config.port, local_hostname=config.local_hostname,
                   start_tls=tls, validate_certs=False, timeout=config.timeout,
                   username=config.username, password=config.password)

    async def one(message) -> bool:
        try:
            await aiosmtplib.send(message.data, sender=message.mail_from, recipients=list(message.recipients), **options)
        except aiosmtplib.SMTPException:
            return False
        return True

    return await _run_workers(messages, concurrency, one)


def _make_cert(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed RSA-2048 certificate (the common relay key type), or None without openssl."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def _bench_one_sink(engine: str, security: str, messages: list, pool: int, tmp: Path, cert: tuple[Path, Path] | None) -> dict:
    """Run the three senders against one sink process; the sink's own count is checked
    against what the senders reported as sent."""
    from digest.mail.smtp import SmtpConfig
    from tests.smtp_server import spawn_sink

    n = len(messages)
    tls = security == "starttls"
    sink = spawn_sink(engine=engine, count_only=True, dump=tmp / f"sink-{engine}-{security}.json",
                      tls_cert=cert[0] if tls else None, tls_key=cert[1] if tls else None, auth=tls)
    try:
        # One client TLS context for all runs: a sender builds its own once, and the
        # connection-per-message run makes a sender per message, which would otherwise
        # pay for loading the CA store each time instead of for the connection.
        client_tls = ssl.create_default_context()
        client_tls.check_hostname = False
        client_tls.verify_mode = ssl.CERT_NONE
        config = SmtpConfig(host=sink.host, port=sink.port, pool_size=pool, rate_per_second=None, timeout=30.0,
                            local_hostname="bench.client.test", security=security, tls_context=client_tls,
                            username="bench" if tls else None, password="secret" if tls else None)
        # Warm up (imports, first connections) outside the timed runs.
        asyncio.run(_send_pooled(config, messages[:50], pool))
        wall_p, cpu_p, fail_p, opened = asyncio.run(_send_pooled(config, messages, pool))
        wall_c, cpu_c, fail_c = asyncio.run(_send_connection_per_message(config, messages, pool))
        # aiosmtplib.send() loads the CA store for every TLS connection (~20 ms): a
        # smaller sample is enough to measure that.
        naive_messages = messages[: min(n, 300)] if tls else messages
        wall_n, cpu_n, fail_n = asyncio.run(_send_naive(config, naive_messages, pool))
    finally:
        received = sink.stop()["count"]
    expected = 50 + (n - fail_p) + (n - fail_c) + (len(naive_messages) - fail_n)
    pooled, per_conn, naive = n / wall_p, n / wall_c, len(naive_messages) / wall_n
    return {
        "sink": engine,
        "security": "starttls+auth" if tls else "none",
        "messages": n,
        "pooled_per_second": round(pooled, 1),
        "pooled_client_cpu_us_per_message": round(cpu_p / n * 1e6, 1),
        "pooled_connections_opened": opened,
        "connection_per_message_per_second": round(per_conn, 1),
        "connection_per_message_client_cpu_us_per_message": round(cpu_c / n * 1e6, 1),
        "naive_aiosmtplib_send_per_second": round(naive, 1),
        "naive_messages": len(naive_messages),
        "ratio_vs_connection_per_message": round(pooled / per_conn, 2),
        "ratio_vs_naive_aiosmtplib_send": round(pooled / naive, 2),
        "failures": fail_p + fail_c + fail_n,
        "sink_received": received,
        "sink_count_matches": received == expected,
    }


def bench_send(
    messages: int = 2000,
    pool: int = 8,
    sinks: tuple[str, ...] = ("aiosmtpd", "fast"),
    seed: int = 7,
    securities: tuple[str, ...] = ("none", "starttls"),
) -> dict:
    """Send `messages` ~25 KB messages to a sink in another process, three ways, per
    sink engine and security mode; return {"runs": [...], summary keys}.

    Ways: our pooled SmtpSender (`pool` connections, no rate limit); the same code with
    one connection per message (open, send, QUIT); and `aiosmtplib.send()` per message.
    Each runs `pool` concurrent senders. Sinks: "aiosmtpd" (a real SMTP server, itself
    the bottleneck on one core) and "fast" (a minimal asyncio sink, so the client is
    what is measured). Security: "none" (plain) and "starttls" (STARTTLS with a
    self-signed RSA-2048 certificate, then AUTH PLAIN: what a submission relay on
    port 587 asks for; skipped without the openssl CLI). All on loopback: no network
    latency, which would favour connection reuse further.
    """
    import tempfile

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)  # for tests.smtp_server when run as a script
    rng = random.Random(seed)
    outgoing = make_outgoing(messages, rng)
    avg_bytes = sum(len(m.data) for m in outgoing) / len(outgoing)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        cert = _make_cert(Path(tmp)) if "starttls" in securities else None
        for security in securities:
            if security == "starttls" and cert is None:
                print("  (no openssl CLI: STARTTLS runs skipped)")
                continue
            for engine in sinks:
                runs.append(_bench_one_sink(engine, security, outgoing, pool, Path(tmp), cert))
    best = max(runs, key=lambda r: r["pooled_per_second"])
    return {
        "runs": runs,
        "avg_message_bytes": round(avg_bytes),
        "pool": pool,
        "cpus": os.cpu_count(),
        "target_per_second": SEND_TARGET_PER_SECOND,
        "target_ratio": SEND_TARGET_RATIO,
        "best_pooled_per_second": best["pooled_per_second"],
        "meets_rate_target": best["pooled_per_second"] >= SEND_TARGET_PER_SECOND,
        "runs_meeting_ratio_target": [f"{r['sink']}/{r['security']}" for r in runs if r["ratio_vs_connection_per_message"] >= SEND_TARGET_RATIO],
        "all_counts_match": all(r["sink_count_matches"] and not r["failures"] for r in runs),
    }


def _print_send(send: dict) -> None:
    print(f"send: {send['pool']} connections / concurrent senders, {send['avg_message_bytes']:,} bytes/message, "
          f"sink in another process, loopback, {send['cpus']} CPUs")
    for run in send["runs"]:
        print(f"  [{run['sink']} sink, {run['security']}] pooled {run['pooled_per_second']:,.0f} msg/s "
              f"({run['pooled_client_cpu_us_per_message']} us client CPU/message, {run['pooled_connections_opened']} connections) | "
              f"connection per message {run['connection_per_message_per_second']:,.0f} msg/s "
              f"-> {run['ratio_vs_connection_per_message']}x | "
              f"aiosmtplib.send per message {run['naive_aiosmtplib_send_per_second']:,.0f} msg/s "
              f"-> {run['ratio_vs_naive_aiosmtplib_send']}x")
    print(f"  every message arrived once (sink counts match, no failures): {send['all_counts_match']}")
    print(f"  targets: >= {SEND_TARGET_PER_SECOND:,} msg/s: {send['meets_rate_target']}; "
          f">= {SEND_TARGET_RATIO:g}x one connection per message in: {', '.join(send['runs_meeting_ratio_target']) or 'none'}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=5000)
    ap.add_argument("--papers", type=int, default=300, help="papers in the day's pool")
    ap.add_argument("--per-digest", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--send-messages", type=int, default=2000, help="messages per SMTP run (0 = skip sending)")
    ap.add_argument("--pool", type=int, default=8, help="SMTP connections (and concurrent senders)")
    ap.add_argument("--sink", choices=("aiosmtpd", "fast", "both"), default="both", help="SMTP sink engine(s)")
    ap.add_argument("--security", choices=("none", "starttls", "both"), default="both", help="plain SMTP, STARTTLS+AUTH, or both")
    args = ap.parse_args(argv)

    render = bench_render(args.subscribers, args.papers, args.per_digest, args.seed)
    print(f"render + serialise: {render['messages']} messages in {render['seconds']} s "
          f"= {render['messages_per_second']:,.0f} messages/s on one core (target {TARGET_PER_SECOND:,})")
    print(f"  render {render['render_us_per_message']} us/message, serialise {render['serialise_us_per_message']} us/message, "
          f"Composer setup {render['compose_setup_ms']} ms, {render['fragments_rendered']} paper fragments rendered")
    print(f"  average message {render['avg_message_bytes']:,} bytes (html {render['avg_html_chars']:,} chars, text {render['avg_text_chars']:,} chars)")
    figures = {"render": render}
    if args.send_messages > 0:
        sinks = ("aiosmtpd", "fast") if args.sink == "both" else (args.sink,)
        securities = ("none", "starttls") if args.security == "both" else (args.security,)
        send = bench_send(args.send_messages, args.pool, sinks, args.seed, securities)
        _print_send(send)
        figures["send"] = send
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
