"""digest.highlight: the word-wise tokenisation matches the index's own, and snippets escape."""

from __future__ import annotations

import pytest

from digest.highlight import Highlighter, tokenize
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


@pytest.mark.parametrize("text", TEXTS)
def test_word_wise_stems_and_spans_are_the_index_tokens(text):
    text = " ".join(text.split())
    found = Highlighter()._by_words(text)
    tokens = tokenize(text)
    if found is None:  # non-ASCII or a 40+ letter word: the slower, exact path is used
        assert not text.isascii() or any(len(word) >= 40 for word in text.split())
        return
    stems, spans = found
    assert stems == [stem for _, stem, _, _ in tokens]
    assert spans == [(start, end) for _, _, start, end in tokens]
    assert [p for p, *_ in tokens] == list(range(len(tokens)))


def test_word_stems_are_shared_across_papers_and_snippets_escape():
    highlighter = Highlighter()
    first = Paper(title="T", abstract="Pooling <layers> & pooled 'features' for graphs", id=1)
    second = Paper(title="Pools & ponds", abstract="Nothing here matches", id=2)
    assert highlighter.snippet(first, ["pool"]) == (
        "<b>Pooling</b> &lt;layers&gt; &amp; <b>pooled</b> &#x27;features&#x27; for graphs")
    assert highlighter.snippet(second, ["pool"]) == "<b>Pools</b> &amp; ponds"
    assert highlighter._words.get("pooled") == "pool"  # stemmed once, for every later paper
