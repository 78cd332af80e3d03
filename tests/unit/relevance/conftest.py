"""Shared data for the relevance tests: a real arXiv extract (tests/data/relevance/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from digest import relevance as rel
from digest.models import Paper

EXTRACT = Path(__file__).resolve().parents[2] / "data" / "relevance" / "arxiv-cs-2026-07-01-02-extract.jsonl"


@dataclass
class Extract:
    papers: list[Paper]
    categories: list[list[str]]
    features: list[rel.PaperFeatures]
    day1: list[int]  # rows listed 2026-07-01 (the "store" the background and likes come from)
    day2: list[int]  # rows listed 2026-07-02 (the candidates)

    def robotics(self, rows: list[int]) -> list[int]:
        return [i for i in rows if "cs.RO" in self.categories[i]]

    def prepare(self, bg: rel.Background, rows: list[int]) -> rel.Candidates:
        return bg.prepare([self.features[i] for i in rows], [self.papers[i].id for i in rows])


@pytest.fixture(scope="session")
def extract() -> Extract:
    records = [json.loads(line) for line in EXTRACT.read_text(encoding="utf-8").splitlines()]
    papers = [Paper(title=r["title"], abstract=r["summary"], authors=tuple(r["authors"]), arxiv_id=r["id"],
                    key=r["id"], id=n + 1, listing_day=date.fromisoformat(r["listing_day"]))
              for n, r in enumerate(records)]
    day1 = [i for i, r in enumerate(records) if r["listing_day"] == "2026-07-01"]
    day2 = [i for i, r in enumerate(records) if r["listing_day"] == "2026-07-02"]
    return Extract(papers, [r["categories"] for r in records], rel.featurize(papers), day1, day2)


@pytest.fixture(scope="session")
def background(extract: Extract) -> rel.Background:
    return rel.Background.build([extract.features[i] for i in extract.day1],
                                ids=[extract.papers[i].id for i in extract.day1], negatives=100)

