"""Feeds show display text: arXiv LaTeX rendered as Unicode and lengths capped, while entry
ids still come from the stored paper (a rendered title never changes a GUID)."""

from __future__ import annotations

from datetime import datetime, timezone

import feedparser
import pytest

from digest.diff import paper_key
from digest.feeds import FeedInfo, build_feed
from digest.models import Paper, RankedPaper

INFO = FeedInfo(title="Papers", link="https://digest.example/", self_url="https://digest.example/feed.atom")
SEEN = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)


def latex_paper(**fields) -> Paper:
    values = dict(title=r"Sparse $\mathcal{O}(n^2)$ Attention with \textbf{adaptability}",
                  abstract=r"A 6.01$\times$ speedup. Demos at https://swanaigc.github.io/\#swantale.",
                  authors=(r"L{\'e}o Nicollier", "Marc Pic"), first_seen=SEEN)
    return Paper(**(values | fields))


@pytest.mark.parametrize("format", ["rss", "atom"])
def test_entries_show_rendered_latex(format):
    entry = feedparser.parse(build_feed([latex_paper(key="arxiv:2601.00001")], INFO, format=format)).entries[0]
    assert entry.title == "Sparse 𝒪(n²) Attention with adaptability"
    body = entry.get("summary") or entry.content[0].value
    assert "A 6.01× speedup." in body and "https://swanaigc.github.io/#swantale." in body
    assert "Léo Nicollier" in (entry.get("author") or entry.get("dc_creator") or "")
    assert "$" not in entry.title + body and "\\" not in entry.title + body


@pytest.mark.parametrize("format", ["rss", "atom"])
def test_snippets_of_ranked_papers_are_rendered_with_their_marks(format):
    ranked = RankedPaper(latex_paper(key="arxiv:2601.00001"), 2.0, ("speedup",), "A 6.01$\\times$ <b>speedup</b>.")
    entry = feedparser.parse(build_feed([ranked], INFO, format=format)).entries[0]
    body = entry.get("summary") or entry.content[0].value
    assert "A 6.01× <b>speedup</b>." in body


def test_the_guid_of_an_unstored_paper_comes_from_its_stored_title():
    paper = latex_paper()  # no key yet: the feed derives the one the store will give
    entry = feedparser.parse(build_feed([paper], INFO, format="rss")).entries[0]
    assert entry.id == paper_key(paper)


def test_a_huge_paper_makes_a_small_entry():
    huge = latex_paper(key="arxiv:2601.00002", title="Word " * 20_000, abstract="Sentence. " * 50_000,
                       authors=("N" * 5_000,) * 50)
    body = build_feed([huge], INFO, format="atom")
    assert len(body) < 10_000
