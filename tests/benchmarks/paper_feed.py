"""The shared input of bench_vs_rss2email: real papers as one arXiv-style RSS feed, and
subscribers with varied interests drawn from the same papers' words.

Papers come from the real arXiv listings in `../shared/fixtures/corpora/` (12k+ distinct
papers) when that folder is beside the checkout, else from the samples shipped in the
package (`digest/samples/`, a few hundred papers, read with our own parsers). When more
papers are asked for than the source holds, the list is repeated under fresh arXiv ids
(titles marked "[copy k]"), and `FeedSource.note` says so.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
ARXIV_CORPUS = SHARED_FIXTURES / "corpora" / "arxiv-cs-listings-2026-07"
PACKAGE_SAMPLES = ROOT / "digest" / "samples"
PUB_DATE = "Fri, 20 Nov 2026 00:00:00 -0500"
_STOP = set("the of and a an to in for on with by we is are that this our from as be at or it its can which these "
            "have has not than their into such also both been more while how when using based via towards toward "
            "through over under between without within across after before new study approach method methods "
            "paper work results show propose proposed".split())
_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")  # "semeval-2026", "zero-shot", "llms"


@dataclass(frozen=True, slots=True)
class FeedPaper:
    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FeedSource:
    papers: list[FeedPaper]
    distinct: int  # distinct papers in the source, before any repetition
    origin: str  # where they came from
    note: str  # what the reader should know (fallback, repetition), or ""


def _corpus_papers() -> list[FeedPaper]:
    seen: dict[str, FeedPaper] = {}
    for path in sorted(ARXIV_CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item["id"] not in seen and item.get("title") and item.get("summary"):
                seen[item["id"]] = FeedPaper(item["id"], " ".join(item["title"].split()), " ".join(item["summary"].split()),
                                             tuple(item.get("authors") or ()), tuple(item.get("categories") or ("cs.LG",)))
    return list(seen.values())


def _sample_papers() -> list[FeedPaper]:
    """Every paper in the package's sample files, read by our own parsers."""
    from digest.sources import parse_snapshot

    seen: dict[str, FeedPaper] = {}
    for path in sorted(p for p in PACKAGE_SAMPLES.rglob("*") if p.suffix in (".txt", ".xml", ".json")):
        for paper in parse_snapshot(path.read_bytes(), input=str(path), today=None).papers:
            key = paper.arxiv_id or paper.title.lower()
            if key not in seen and paper.title and paper.abstract:
                arxiv_id = paper.arxiv_id or f"2698.{len(seen):05d}"
                seen[key] = FeedPaper(arxiv_id, paper.title, paper.abstract, tuple(paper.authors),
                                      tuple(paper.categories or ("cs.LG",)))
    return list(seen.values())


def load_papers(n: int) -> FeedSource:
    """`n` papers for the feed, from the shared fixtures if present, else the package samples."""
    if ARXIV_CORPUS.is_dir():
        base, origin, note = _corpus_papers(), f"{ARXIV_CORPUS.relative_to(ROOT.parent)}", ""
    else:
        base, origin = _sample_papers(), "digest/samples (the package's own samples)"
        note = f"{SHARED_FIXTURES} is absent: using the samples shipped in the package instead"
    papers = [_copy(paper, k // len(base), k) if k >= len(base) else paper for k, paper in
              ((k, base[k % len(base)]) for k in range(n))]
    if n > len(base):
        repeat = f"{len(base):,} distinct papers repeated under fresh arXiv ids to reach {n:,}"
        note = f"{note}; {repeat}" if note else repeat
    return FeedSource(papers, len(base), origin, note)


def _copy(paper: FeedPaper, copy: int, k: int) -> FeedPaper:
    return FeedPaper(f"{2700 + copy:04d}.{k % 100_000:05d}", f"{paper.title} [copy {copy}]", paper.abstract,
                     paper.authors, paper.categories)


def write_feed(papers: Iterable[FeedPaper], path: Path) -> None:
    """An RSS 2.0 file shaped like rss.arxiv.org's (announce type, abstract, dc:creator)."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
                  'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">\n<channel>\n'
                  "<title>cs updates on arXiv.org</title>\n<link>http://rss.arxiv.org/rss/cs</link>\n"
                  "<description>Benchmark feed built from real arXiv listings</description>\n"
                  f"<language>en-us</language>\n<pubDate>{PUB_DATE}</pubDate>\n")
        for paper in papers:
            categories = "".join(f"<category>{escape(c)}</category>" for c in paper.categories)
            out.write(f"<item>\n<title>{escape(paper.title)}</title>\n"
                      f"<link>https://arxiv.org/abs/{paper.arxiv_id}</link>\n"
                      f"<description>arXiv:{paper.arxiv_id}v1 Announce Type: new \nAbstract: {escape(paper.abstract)}"
                      f"</description>\n<guid isPermaLink=\"false\">oai:arXiv.org:{paper.arxiv_id}v1</guid>\n"
                      f"{categories}\n<pubDate>{PUB_DATE}</pubDate>\n<arxiv:announce_type>new</arxiv:announce_type>\n"
                      f"<dc:creator>{escape(', '.join(paper.authors))}</dc:creator>\n</item>\n")
        out.write("</channel>\n</rss>\n")


def topic_terms(papers: list[FeedPaper]) -> tuple[list[str], list[str]]:
    """(words, phrases) people would subscribe to: frequent title words that are not stop
    words, skipping the handful so common they match everything; frequent title bigrams."""
    words: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for paper in papers:
        tokens = [t for t in _WORD.findall(paper.title.lower()) if len(t) > 3 and t not in _STOP]
        words.update(set(tokens))
        pairs.update({f"{a} {b}" for a, b in itertools.pairwise(tokens)})
    ranked = [w for w, _ in words.most_common(420)][20:]
    phrases = [p for p, c in pairs.most_common(300) if c >= 3]
    return ranked, phrases or ranked[:1]


def interests(rng: random.Random, words: list[str], phrases: list[str]) -> str:
    """1-4 OR-ed terms; some quoted phrases, some exclusions."""
    parts: list[str] = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.2:
            parts.append(f'"{rng.choice(phrases)}"')
        elif roll < 0.3 and parts:
            parts.append(f"-{rng.choice(words)}")
        else:
            parts.append(rng.choice(words[:200]) if rng.random() < 0.7 else rng.choice(words))
    if all(part.startswith("-") for part in parts):
        parts.append(rng.choice(words[:50]))
    return " ".join(parts)


def write_subscribers(papers: list[FeedPaper], n: int, path: Path, *, seed: int = 7, max_papers: int = 10) -> None:
    """A CSV for `digest subscribers import`: `n` active subscribers, `max_papers` papers each,
    varied interests (70% pick one of a few hundred popular queries, as real lists share them)."""
    rng = random.Random(seed)
    words, phrases = topic_terms(papers)
    popular = [interests(rng, words, phrases) for _ in range(max(1, min(n // 10, 500)))]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "status", "interests", "timezone", "send_hour", "max_papers"])
        for k in range(n):
            query = rng.choice(popular) if rng.random() < 0.7 else interests(rng, words, phrases)
            writer.writerow([f"reader{k}@example{k % 101}.org", f"Reader {k}", "active", query, "UTC", 7, max_papers])
