"""Pages generated from the sample papers in the layouts other saves produce: four headers,
eight kinds of metadata lines, hard wrapping, CRLF, NBSP, a BOM, repeated papers, no final
newline. Every one must give exactly its papers: none lost, none invented."""

from __future__ import annotations

import random
import textwrap
from datetime import date

import pytest

from digest.diff import dedupe
from digest.models import Paper
from digest.sources import hf_page, parse_snapshot

TODAY = date(2026, 8, 1)
HEADERS = [
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nJul 14\n\n",
    "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe",
    "Daily Papers\nby AK and the research community\nJul 14, 2026\n← Previous\nNext →\n\n",
    ("Hugging Face\nModels\nDatasets\nSpaces\nDocs\nPricing\nLog In\nSign Up\nDaily Papers\nby AK and the research community\n"
     "2026-07-14\n\n"),
]
METADATA = [
    lambda i, p: "",
    lambda i, p: f"  • {i + 2} authors\n·\nJul 14, 2026 {i}\n",
    lambda i, p: f"  • {i + 2} authors\n·\nJul 14, 2026\n{i}\n",
    lambda i, p: "Submitted by\nakhaliq\n",
    lambda i, p: "Submitted by nielsr\n",
    lambda i, p: f"• {i + 2} authors · Jul 14, 2026 · {i}\n",
    lambda i, p: f"parameterlab Parameter Lab\n·\nJul 14, 2026 {i}\n",
    lambda i, p: "  • Ann Lee, Jörg Müller, et al.\n·\nJul 14, 2026\n",
]


@pytest.fixture(scope="module")
def pool(samples) -> list[Paper]:
    papers = []
    for name in ("hf-listing-with-metadata.txt", "hf-listing-plain.txt"):
        papers += hf_page.parse((samples / "snapshots" / name).read_bytes(), today=TODAY).papers
    return dedupe(papers)


def page(rng: random.Random, pool: list[Paper]) -> tuple[str, list[Paper]]:
    papers = rng.sample(pool, rng.choice([1, 2, 3, 10, 40]))
    if rng.random() < 0.2:
        papers += papers[: max(1, len(papers) // 5)]
    header = rng.randrange(len(HEADERS))
    if header == 1:  # the compact layout: no blank lines, no metadata
        text = HEADERS[1] + "".join(f"{p.title}\n{p.abstract}\n" for p in papers)
    else:
        metadata = rng.choice(METADATA)
        text = HEADERS[header] + "".join(f"{p.title}\n\n{p.abstract}\n\n{metadata(i, p)}\n" for i, p in enumerate(papers))
        if rng.random() < 0.25:
            width = rng.choice([72, 76, 80])
            text = "\n".join(textwrap.fill(block, width=width, break_on_hyphens=False, break_long_words=False)
                             for block in text.split("\n"))
    for chance, change in ((0.3, lambda t: t.replace("\n", "\r\n")), (0.2, lambda t: t.replace(" ", "\xa0")),
                           (0.2, lambda t: "\ufeff" + t), (0.3, str.rstrip)):
        if rng.random() < chance:
            text = change(text)
    return text, papers


@pytest.mark.parametrize("seed", range(60))
def test_a_generated_page_gives_exactly_its_papers(pool, seed):
    text, papers = page(random.Random(seed), pool)
    result = parse_snapshot(text.encode(), input=f"page-{seed}", today=TODAY)
    assert [(p.title, p.abstract) for p in dedupe(result.papers)] == [(p.title, p.abstract) for p in dedupe(papers)]
    assert not any("left out" in warning for warning in result.warnings)
