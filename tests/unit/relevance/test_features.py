"""Paper features: stateless, stable per paper, and their bytes round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from digest import relevance as rel
from digest.models import Paper


def _same(a: rel.PaperFeatures, b: rel.PaperFeatures) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("words", "word_counts", "tokens", "token_counts"))


def test_bytes_round_trip(extract):
    for f in extract.features[:20]:
        assert _same(rel.decode(rel.encode(f)), f)


def test_featurize_papers_is_encode_of_featurize(extract):
    papers = extract.papers[:5]
    assert rel.featurize_papers(papers) == [rel.encode(f) for f in rel.featurize(papers)]


def test_a_papers_features_do_not_depend_on_the_batch(extract):
    """Stored features never need recomputing when other papers arrive."""
    alone = rel.featurize([extract.papers[7]])[0]
    assert _same(alone, extract.features[7])


def test_words_and_tokens_reflect_the_text():
    a, b = rel.featurize([Paper(title="Robot grasping", abstract="A robot learns grasping."),
                          Paper(title="Robot grasping", abstract="A robot learns grasping. Robot.")])
    assert len(a.words) and len(a.tokens)
    assert a.word_counts.sum() < b.word_counts.sum()  # one more "robot"
    assert np.all(np.diff(a.words.astype(np.int64)) > 0) and np.all(np.diff(a.tokens.astype(np.int64)) > 0)


def test_empty_text_and_empty_batch():
    assert rel.featurize([]) == []
    (f,) = rel.featurize([Paper(title="")])
    assert len(f.words) == 0 and len(f.tokens) == 0
    assert _same(rel.decode(rel.encode(f)), f)


@pytest.mark.parametrize("data, message", [
    (b"", "shorter than the header"),
    (b"XXXX" + bytes(8), "unknown format"),
    (b"PDR1" + (5).to_bytes(4, "little") + bytes(4), "do not match"),
])
def test_decode_rejects_bytes_that_are_not_features(data, message):
    with pytest.raises(ValueError, match=message):
        rel.decode(data)


def test_model_name_fits_the_column():
    assert 0 < len(rel.MODEL) <= 40
