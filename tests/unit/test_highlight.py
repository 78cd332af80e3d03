"""digest.highlight: the word-wise tokenisation matches the index's own, and snippets escape."""

from __future__ import annotations

import re

import pytest

from digest.highlight import Highlighter, _term_stems, tokenize, word_starts
from digest.models import Paper

TEXTS = [
    "Diffusion models for protein folding: pooling, pooled and pools.",
    "Dying skies happily generously; news of the early, ugly, only ones.",
    "x_y __ a1b2 3.14 e-mail foo-bar CamelCase UPPER lower 2026",
    "before " + "a" * 39 + " at 39 " + "b" * 40 + " at 40 " + "c" * 45 + " after",
    "naïve café résumé: non-ASCII goes the other way",
    "Ma\u0301laga and \u00e9 composed differently, \u4e2d\u6587 too",
    "<script>alert('x')</script> & \"quotes\" <b>bold</b>",
    "",
    "   ",
    "S s sS Ss 9s s9 _s s_ a-s x.S SSS sss", "Trailing s", "s", "Q", "e" * 80 + " e" + "E" * 39 + " eE",
    "Mixed CASE Pooling POOLED pOoLs 3D 3d-printing x3d",
]


TERMS = [("pool",), ("s", "sss", "ss"), ("e" * 80, "e" * 39, "ee"), ("3d", "q", "trail"), ("diffusion models", "fold"), ("die", "sky", "early"), ("x", "a1b2", "2026", "3"),
         ("camelcase", "upper"), ("a" * 39, "b" * 40), ("café", "naïve"), ("script", "quotes", "b"), ("",), ()]


@pytest.mark.parametrize("text", TEXTS)
def test_scanned_hits_are_the_index_tokens_that_match(text):
    """Only words starting with a stem's first letter are stemmed: the same hits as stemming
    every token of the text the index's way."""
    text = " ".join(text.split())
    if not text.isascii():
        return  # outside ASCII every token is stemmed (Highlighter._field)
    tokens = tokenize(text)
    highlighter = Highlighter()
    for terms in TERMS:
        stems, letters = _term_stems(terms)
        expected = [(start, end) for _, stem, start, end in tokens if stem in stems]
        assert highlighter._ascii_hits(word_starts(text), stems, letters) == expected, terms


@pytest.mark.parametrize("text", [t for t in TEXTS if t.isascii()])
def test_word_starts_marks_every_token_but_its_first_character(text):
    """word_starts(text) is the text lowercased, with the high bit set exactly on the characters of
    a token (as the index splits ASCII text: [A-Za-z0-9] runs) after its first."""
    marked = word_starts(text)
    expected = bytearray(text.lower().encode("ascii"))
    for _, _, start, end in tokenize(text):
        for at in range(start + 1, end):
            expected[at] |= 0x80
    for long_word in re.finditer(r"[A-Za-z0-9]{40,}", text):  # tantivy drops it; its characters are marked too
        for at in range(long_word.start() + 1, long_word.end()):
            expected[at] |= 0x80
    assert marked == bytes(expected)


def test_a_stem_starts_with_its_word_s_first_letter():
    """What the scan relies on, over every word of the test data's abstracts and the stemmer's
    exceptional forms."""
    import json
    import re
    from pathlib import Path

    from digest.highlight import STEMMER
    data = Path(__file__).parents[1] / "data" / "relevance" / "arxiv-cs-2026-07-01-02-extract.jsonl"
    words = {"skis", "skies", "dying", "lying", "tying", "idly", "gently", "ugly", "early", "only", "singly",
             "sky", "news", "howe", "atlas", "cosmos", "bias", "andes", "y", "ys", "yes", "ying", "ies", "ied",
             "s", "us", "sses", "eed", "ed", "ing", "Yearly", "IES"}
    for line in data.read_text().splitlines():
        words.update(re.findall(r"[A-Za-z0-9]+", json.dumps(json.loads(line), ensure_ascii=False)))
    assert len(words) > 5_000
    for word in words:
        if len(word) < 40:
            (stem,) = STEMMER.analyze(word)
            assert stem[0] == word[0].lower(), word


def test_word_stems_are_shared_across_papers_and_snippets_escape():
    highlighter = Highlighter()
    first = Paper(title="T", abstract="Pooling <layers> & pooled 'features' for graphs", id=1)
    second = Paper(title="Pools & ponds", abstract="Nothing here matches", id=2)
    assert highlighter.snippet(first, ["pool"]) == (
        "<b>Pooling</b> &lt;layers&gt; &amp; <b>pooled</b> &#x27;features&#x27; for graphs")
    assert highlighter.snippet(second, ["pool"]) == "<b>Pools</b> &amp; ponds"
    assert highlighter._words.get(word_starts("pooled")) == "pool"  # stemmed once, for every later paper


def _plain_snippet(paper: Paper, terms: tuple[str, ...]) -> str:
    """The snippet the plain way: every token of each field stemmed (`tokenize`), no caches."""
    from digest.highlight import STEMMER, highlight, lead
    stems = {stem for term in terms for stem in STEMMER.analyze(term)}
    for field in ("abstract", "title"):
        text = " ".join((getattr(paper, field) or "").split())
        hits = [(start, end) for _, stem, start, end in tokenize(text) if stem in stems]
        if hits:
            return highlight(text, hits)
    return lead(paper.abstract or paper.title or "")


LATEX = "We bound $\\mathcal{O}(n^2)$ pooling via \\textbf{Pools} and 6.01$\\times$ faster {pooled} s_pool"


@pytest.mark.parametrize("abstract", [*TEXTS, LATEX, " ".join(TEXTS) * 3])
def test_snippets_are_those_of_plain_tokenisation(abstract):
    highlighter = Highlighter()
    for n, terms in enumerate(TERMS):
        for title in ("Pools of CamelCase", "naïve pools"):
            paper = Paper(title=title, abstract=abstract, id=n + 1 if title.isascii() else n + 100)
            assert highlighter.snippet(paper, terms) == _plain_snippet(paper, terms), (terms, title)
            assert highlighter.snippet(paper, terms) == _plain_snippet(paper, terms)  # cached
