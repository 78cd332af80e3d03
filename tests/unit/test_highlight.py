"""digest.highlight: the word-wise tokenisation matches the index's own, and snippets escape."""

from __future__ import annotations

import pytest

from digest.highlight import Highlighter, _term_stems, tokenize
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
]


TERMS = [("pool",), ("diffusion models", "fold"), ("die", "sky", "early"), ("x", "a1b2", "2026", "3"),
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
        stems, scan = _term_stems(terms)
        expected = [(start, end) for _, stem, start, end in tokens if stem in stems]
        assert highlighter._ascii_hits(text, stems, scan) == expected, terms


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
    assert highlighter._words.get("pooled") == "pool"  # stemmed once, for every later paper
