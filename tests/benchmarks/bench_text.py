"""Display-text cost: LaTeX -> Unicode and caps (digest.text) over real arXiv papers.

    python tests/benchmarks/bench_text.py

Reads the distinct papers of ../shared/fixtures/corpora/arxiv-cs-listings-2026-07 (titles and
abstracts on one line, as the feed parser stores them). Prints, in CPU time:
* cold: every paper's display title and abstract with empty caches (what one process pays
  the first time it shows a paper), per paper, and split into text with and without markup;
* one day: the same for the largest single listing day, cold;
* warm: showing the same day's papers again (a digest or feed built again), per paper;
* whole abstracts through pylatexenc without the piece scan, on a sample, for comparison.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from digest import latex  # noqa: E402
from digest.models import Paper  # noqa: E402
from digest.text import display_abstract, display_title, rendered  # noqa: E402

CORPUS = ROOT.parent / "shared" / "fixtures" / "corpora" / "arxiv-cs-listings-2026-07"


def load() -> tuple[list[Paper], list[Paper]]:
    """(every distinct paper, the papers of the largest listing day)."""
    seen: dict[str, Paper] = {}
    days: list[list[Paper]] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        day = []
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item["id"] not in seen:
                seen[item["id"]] = Paper(" ".join(item["title"].split()), " ".join(item["summary"].split()))
                day.append(seen[item["id"]])
        days.append(day)
    return list(seen.values()), max(days, key=len)


def clear() -> None:
    rendered.cache_clear()
    latex._piece_text.cache_clear()


def show(papers: list[Paper]) -> float:
    """CPU seconds to show every paper's title and abstract."""
    start = time.process_time()
    for paper in papers:
        display_title(paper)
        display_abstract(paper)
    return time.process_time() - start


def whole_abstract_parse(papers: list[Paper]) -> float:
    """CPU seconds per paper for pylatexenc on whole abstracts (no piece scan, no cache)."""
    converter = latex._CONVERTER
    start = time.process_time()
    for paper in papers:
        for text in (paper.title, paper.abstract):
            try:
                nodes = latex.latexwalker.LatexWalker(text, latex_context=latex._WALKER_CONTEXT,
                                                      tolerant_parsing=True).get_latex_nodes()[0]
                converter.nodelist_to_text(nodes)
            except Exception:  # noqa: BLE001 - measuring only
                continue
    return (time.process_time() - start) / len(papers)


def main() -> None:
    if not CORPUS.exists():
        sys.exit(f"needs {CORPUS} (the shared fixtures beside the checkout)")
    papers, day = load()
    marked = [p for p in papers if latex.has_markup(p.title + p.abstract)]
    plain = [p for p in papers if not latex.has_markup(p.title + p.abstract)]
    figures: dict[str, float | int] = {"papers": len(papers), "with_markup": len(marked), "day_papers": len(day)}
    clear()
    figures["cold_us_per_paper"] = show(papers) / len(papers) * 1e6
    clear()
    figures["cold_plain_us_per_paper"] = show(plain) / len(plain) * 1e6
    figures["cold_markup_us_per_paper"] = show(marked) / len(marked) * 1e6
    clear()
    figures["day_cold_s"] = show(day)
    figures["warm_us_per_paper"] = min(show(day) for _ in range(5)) / len(day) * 1e6
    figures["whole_parse_us_per_paper"] = whole_abstract_parse(marked[:300]) * 1e6
    print(f"{len(papers):,} papers, {len(marked):,} with LaTeX markup (title or abstract)")
    print(f"  cold: {figures['cold_us_per_paper']:,.0f} µs/paper "
          f"({figures['cold_plain_us_per_paper']:,.1f} µs without markup, {figures['cold_markup_us_per_paper']:,.0f} µs with)")
    print(f"  one listing day ({len(day):,} papers), cold: {figures['day_cold_s']:.2f} s")
    print(f"  warm (shown again): {figures['warm_us_per_paper']:,.2f} µs/paper")
    print(f"  pylatexenc on whole abstracts, for comparison: {figures['whole_parse_us_per_paper']:,.0f} µs/paper (with markup)")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
