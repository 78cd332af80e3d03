"""A deterministic generator of realistic days: papers, and subscribers with interests.

Titles and abstracts are drawn Zipf-like from the vocabulary of the real fixture snapshots,
so term frequencies (and so BM25 scores, index sizes and snippet work) look like a real
day; subscribers get 1-5 keyword interests drawn from the same vocabulary (phrases and
exclusions mixed in) and time zones spread over the world. Same seed, same day.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator

SAMPLES = Path(__file__).resolve().parents[2] / "digest" / "samples" / "snapshots"
ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo",
    "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "Africa/Lagos", "Asia/Singapore",
)
_STOP = set("the of and a an to in for on with by we is are that this our from as be at or it its can which these "
            "have has not than their into such also both been more while how when using based".split())


@lru_cache(maxsize=1)
def vocabulary() -> tuple[list[str], list[float]]:
    """Words of the fixture abstracts, most frequent first, with Zipf weights."""
    counts: dict[str, int] = {}
    for path in SAMPLES.glob("*.txt"):
        for word in re.findall(r"[a-z][a-z-]{2,}", path.read_text().lower()):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


@lru_cache(maxsize=1)
def topic_words() -> list[str]:
    """Content words people subscribe to: frequent, not stop words."""
    words, _ = vocabulary()
    return [w for w in words if w not in _STOP and len(w) > 4][:400]


def _sentence(rng: random.Random, words: list[str], weights: list[float], length: int) -> str:
    return " ".join(rng.choices(words, weights, k=length)).capitalize() + "."


@dataclass(frozen=True)
class Day:
    papers: int
    subscribers: int
    seed: int = 7
    day: date = date(2026, 11, 20)

    def papers_json(self) -> bytes:
        """The day as an HF `/api/daily_papers` response (arXiv ids, authors, upvotes)."""
        rng = random.Random(self.seed)
        words, weights = vocabulary()
        stamp = f"{self.day.isoformat()}T00:00:00.000Z"
        items = []
        for number in range(self.papers):
            title = _sentence(rng, words, weights, rng.randint(6, 12))[:-1]
            abstract = " ".join(_sentence(rng, words, weights, rng.randint(14, 26)) for _ in range(rng.randint(6, 10)))
            authors = [{"name": f"Author {rng.randrange(50_000)}"} for _ in range(rng.randint(1, 8))]
            paper = {"id": f"{self.day:%y%m}.{number:05d}", "title": title, "summary": abstract, "authors": authors,
                     "upvotes": int(rng.paretovariate(1.2)) - 1, "publishedAt": stamp, "submittedOnDailyAt": stamp}
            items.append({"paper": paper, "title": title, "summary": abstract, "publishedAt": stamp})
        return json.dumps(items).encode()

    def interests(self, rng: random.Random) -> str:
        topics = topic_words()
        parts = []
        for _ in range(rng.randint(1, 5)):
            roll = rng.random()
            if roll < 0.2:
                parts.append(f'"{rng.choice(topics)} {rng.choice(topics)}"')
            elif roll < 0.3 and parts:
                parts.append(f"-{rng.choice(topics)}")
            else:
                parts.append(rng.choice(topics[:120]))
        return " ".join(parts)

    def subscriber_rows(self) -> Iterator[dict]:
        """Subscriber specs as dicts (email, interests, timezone, hour), deterministic, streamed."""
        rng = random.Random(self.seed + 1)
        popular = [self.interests(rng) for _ in range(max(1, min(self.subscribers // 8, 2000)))]
        for number in range(self.subscribers):
            # Real lists share queries: most people pick one of a few thousand popular ones.
            query = rng.choice(popular) if rng.random() < 0.7 else self.interests(rng)
            yield {"email": f"reader{number}@example{number % 101}.org", "interests": query,
                   "timezone": rng.choice(ZONES), "send_hour": rng.randrange(24), "status": "active",
                   "max_papers": 10}


def planned_at() -> datetime:
    return datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
