"""digest.ranking: grammar, stemming, ordering, cursor, snippets, on fixture and hand-built papers."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import QueryError
from digest.models import Paper, Subscriber
from digest import ranking
from digest.ranking import build_index, rank, rank_subscribers, validate_query

SAMPLES = Path(__file__).resolve().parents[2] / "digest" / "samples"


def hf_papers() -> list[Paper]:
    """Papers from the HF API fixture, ids in listing order."""
    items = json.loads((SAMPLES / "hf-api" / "daily-papers-limit30.json").read_text())
    papers = []
    for n, item in enumerate(items, start=1):
        p = item["paper"]
        papers.append(Paper(
            title=p["title"], abstract=p["summary"], arxiv_id=p["id"],
            authors=tuple(a["name"] for a in p["authors"]),
            organization=(item.get("organization") or {}).get("fullname"),
            upvotes=p.get("upvotes"), published=date.fromisoformat(p["publishedAt"][:10]),
            key=f"arxiv:{p['id']}", id=n,
        ))
    return papers


def hand_papers() -> list[Paper]:
    """Short texts whose expected matches were checked by hand."""
    specs = [
        ("title-phrase", "Token Pooling for Vision Transformers", "We shrink sequences cheaply.", 1),
        ("abstract-phrase", "Efficient Sequence Models", "Our method applies token pooling after each block.", 9),
        ("far-apart", "Sparse Encoders", "Each token is routed; a separate pooling stage follows much later.", 3),
        ("pool-verb", "Cheap Aggregation", "We pool hidden states across layers.", 2),
        ("normalization", "Layer Normalization Revisited", "Normalization stabilises training.", 4),
        ("normalize-verb", "Scale Matters", "We normalize activations per channel.", 5),
        ("medical", "Token Pooling for Medical Imaging", "A medical application of token pooling.", 50),
        ("script", "Unsafe Text", "We study <script>alert('x')</script> injection & token pooling.", 0),
    ]
    return [Paper(title=t, abstract=a, upvotes=u, key=k, id=n, published=date(2026, 6, 1),
                  authors=("Lukas Ruff", "Ana Zhang"))
            for n, (k, t, a, u) in enumerate(specs, start=1)]


@pytest.fixture(scope="module")
def hand():
    return build_index(hand_papers())


@pytest.fixture(scope="module")
def hf():
    return build_index(hf_papers())


def keys(ranked) -> list[str]:
    return [r.paper.key for r in ranked]


# ---------------------------------------------------------------- matching and order


def test_phrase_in_title_ranks_above_phrase_in_abstract(hand):
    found = keys(rank(hand, '"token pooling"'))
    assert found.index("title-phrase") < found.index("abstract-phrase")


def test_phrase_needs_adjacent_words(hand):
    found = keys(rank(hand, '"token pooling"'))
    assert "abstract-phrase" in found and "far-apart" not in found
    assert "far-apart" in keys(rank(hand, "token pooling"))  # plain words are OR-ed


def test_stemming_both_ways(hand):
    assert "pool-verb" in keys(rank(hand, "pooling"))
    assert {"normalization", "normalize-verb"} <= set(keys(rank(hand, "normalize")))
    assert {"normalization", "normalize-verb"} <= set(keys(rank(hand, "normalization")))


def test_exclusion_removes_papers(hand, hf):
    assert "medical" in keys(rank(hand, '"token pooling"'))
    assert "medical" not in keys(rank(hand, '"token pooling" -medical'))
    with_agents = keys(rank(hf, "agent", limit=30))
    assert "arxiv:2606.13572" in with_agents  # the medical multi-agent paper
    assert "arxiv:2606.13572" not in keys(rank(hf, "agent -medical", limit=30))


def test_exclusion_only_query_browses_without_excluded(hf):
    found = rank(hf, "-medical", limit=30)
    assert len(found) == 29 and all(r.score == 0 for r in found)
    assert "arxiv:2606.13572" not in keys(found)


def test_author_field_on_api_papers(hf):
    found = keys(rank(hf, "author:kocielnik", limit=30))
    assert set(found) == {"arxiv:2606.00467", "arxiv:2606.12730"}
    assert keys(rank(hf, 'author:"Rafal Kocielnik"', limit=30)) == found
    assert keys(rank(hf, "author:minimax")) == ["arxiv:2606.13392"]  # organisation
    assert rank(hf, "kocielnik") == []  # unqualified words do not search authors


def test_field_restriction(hand):
    assert keys(rank(hand, "title:normalization")) == ["normalization"]


def test_and_and_comma_list(hand):
    assert set(keys(rank(hand, "hidden AND layers"))) == {"pool-verb"}
    found = keys(rank(hand, "activations, hidden layers, -medical"))
    assert set(found) == {"normalize-verb", "pool-verb"}


def test_matched_terms_as_written(hand):
    top = rank(hand, '"token pooling" OR Normalization -medical')
    by_key = {r.paper.key: r for r in top}
    assert by_key["title-phrase"].matched == ("token pooling",)
    assert by_key["normalization"].matched == ("Normalization",)
    assert all(r.score > 0 for r in top)


def test_matched_terms_are_kept_per_term_and_per_index():
    # Each term's matches are searched once per index and shared by every query holding it: a
    # field-restricted term, a phrase and the same words loose are distinct terms, and an index
    # over other papers knows nothing of what an earlier one found.
    index = build_index(hand_papers())
    matched = {r.paper.key: r.matched for r in rank(index, "normalization pooling", limit=20)}
    assert matched["normalization"] == ("normalization",) and matched["pool-verb"] == ("pooling",)
    title_only = {r.paper.key: r.matched for r in rank(index, "title:normalization pooling", limit=20)}
    assert "normalize-verb" not in title_only and title_only["pool-verb"] == ("pooling",)
    phrase = {r.paper.key: r.matched for r in rank(index, '"token pooling" pooling', limit=20)}
    assert phrase["far-apart"] == ("pooling",) and phrase["abstract-phrase"] == ("token pooling", "pooling")
    other = build_index([replace(p, abstract="Nothing to see.", title="Other") if p.key == "pool-verb" else p
                         for p in hand_papers()])
    assert "pool-verb" not in keys(rank(other, "pooling", limit=20))
    assert {r.paper.key: r.matched for r in rank(index, "pooling", limit=20)}["pool-verb"] == ("pooling",)


def test_ties_broken_by_upvotes_then_key():
    same = [Paper(title="Pooling", key=k, id=n, upvotes=u) for n, (k, u) in
            enumerate([("b", 1), ("a", 1), ("c", 7), ("d", None)], start=1)]
    assert keys(rank(build_index(same), "pooling")) == ["c", "a", "b", "d"]


def test_recency_breaks_upvote_ties():
    papers = [Paper(title="Pooling", key="old", id=1, upvotes=2, published=date(2026, 1, 1)),
              Paper(title="Pooling", key="new", id=2, upvotes=2, published=date(2026, 2, 1)),
              Paper(title="Pooling", key="seen", id=3, upvotes=2, published=date(2026, 2, 1),
                    first_seen=datetime(2026, 2, 2, 8))]
    assert keys(rank(build_index(papers), "pooling")) == ["seen", "new", "old"]


def test_deterministic_and_independent_of_input_order():
    papers = hf_papers() + hand_papers()
    for n, p in enumerate(papers, start=1):
        p.id = n
    queries = ["agent", "model OR reasoning -medical", '"token pooling"', "", "visual, latent reasoning"]
    first = {q: [(r.paper.key, r.score) for r in rank(build_index(papers), q, limit=12)] for q in queries}
    for seed in range(3):
        shuffled = papers[:]
        random.Random(seed).shuffle(shuffled)
        again = {q: [(r.paper.key, r.score) for r in rank(build_index(shuffled), q, limit=12)]
                 for q in queries}
        assert again == first


def test_after_id_filters(hf):
    found = rank(hf, "agent", after_id=20, limit=30)
    assert found and all(r.paper.id > 20 for r in found)
    assert {r.paper.key for r in found} == {r.paper.key for r in rank(hf, "agent", limit=30)
                                            if r.paper.id > 20}
    assert rank(hf, "agent", after_id=30) == []


def test_limit_and_min_score(hf):
    everything = rank(hf, "agent OR model", limit=30)
    assert len(rank(hf, "agent OR model", limit=3)) == 3
    assert keys(rank(hf, "agent OR model", limit=3)) == keys(everything)[:3]
    cut = everything[4].score
    above = rank(hf, "agent OR model", limit=30, min_score=cut)
    assert above and all(r.score >= cut for r in above)
    assert keys(above) == [r.paper.key for r in everything if r.score >= cut]
    assert rank(hf, "agent", limit=0) == []


def test_blank_query_gives_top_papers_by_upvotes(hf):
    top = rank(hf, "   ", limit=3)
    assert [r.paper.upvotes for r in top] == [118, 103, 74]
    assert all(r.score == 0 and r.matched == () for r in top)
    assert top[0].snippet  # the abstract's opening


def test_rank_subscribers_uses_each_subscribers_settings(hf):
    subs = [Subscriber(email="a@x", interests="agent", max_papers=2),
            Subscriber(email="b@x", interests="agent", max_papers=5, cursor=25),
            Subscriber(email="c@x", interests="", max_papers=1),
            Subscriber(email="d@x", interests='"unclosed', max_papers=3)]
    out = dict((s.email, r) for s, r in rank_subscribers(hf, subs))
    assert len(out["a@x"]) == 2
    assert out["b@x"] and all(r.paper.id > 25 for r in out["b@x"])
    assert [r.paper.upvotes for r in out["c@x"]] == [118]
    assert out["d@x"] == []
    assert keys(out["a@x"]) == keys(rank(hf, "agent", limit=2))


# ---------------------------------------------------------------- snippets


def test_snippet_highlights_and_escapes(hand):
    top = {r.paper.key: r for r in rank(hand, '"token pooling"', limit=10)}
    snip = top["script"].snippet
    assert "<script>" not in snip and "&lt;script&gt;" in snip
    assert "<b>token</b> <b>pooling</b>" in snip
    assert "&amp;" in snip


def test_snippet_falls_back_to_title_and_is_short(hf):
    top = rank(hf, "title:sparse")
    assert top[0].snippet == "MiniMax <b>Sparse</b> Attention"
    for r in rank(hf, "agent", limit=30):
        assert "<b>" in r.snippet and len(r.snippet) < 300


def test_snippet_stems(hand):
    [r] = [r for r in rank(hand, "pooling") if r.paper.key == "pool-verb"]
    assert "<b>pool</b>" in r.snippet


# ---------------------------------------------------------------- validate_query


@pytest.mark.parametrize("query, position, words", [
    ('pooling "token pooling', 8, "quote"),
    ("pooling foo:bar", 8, "unknown field"),
    ("pooling OR", 8, "dangling OR"),
    ("OR pooling", 0, "dangling OR"),
    ("pooling AND", 8, "dangling AND"),
    ("pooling -", 8, "'-'"),
    ("pooling - medical", 8, "'-'"),
    ("a () b", 2, "empty parentheses"),
    ("(a b", 0, "'('"),
    ("a b)", 3, "')'"),
    ("a OR -b", 2, "exclusion"),
    ("title: ", 0, "title:"),
    ("pool*", 4, "unsupported"),
    ("a, b OR c", 5, "comma"),
])
def test_validate_query_errors_name_the_position(query, position, words):
    with pytest.raises(QueryError) as info:
        validate_query(query)
    assert info.value.position == position
    assert words in info.value.message
    assert info.value.query == query
    assert f"position {position}" in str(info.value)


@pytest.mark.parametrize("query, normal", [
    ("", ""),
    ("  ", ""),
    ('"token pooling" OR normalization -medical', '"token pooling" OR normalization -medical'),
    ("pooling, data filtering", "pooling OR (data AND filtering)"),
    ("pooling, data filtering, -medical,", "pooling OR (data AND filtering) -medical"),
    ("Author:zhang  title:pooling", "author:zhang title:pooling"),
    ('author:"Lukas   Ruff"', 'author:"Lukas Ruff"'),
    ("a b AND c", "a (b AND c)"),
    ("NOT medical pooling", "-medical pooling"),
    ("C++ & LLM-as-a-judge", '"C++" LLM-as-a-judge'),
])
def test_validate_query_normalises(query, normal):
    assert validate_query(query) == normal
    assert validate_query(normal) == normal


QUERY_ALPHABET = st.sampled_from(list('abc xyz"()-:,^*~\\\'`!&.') + ["OR", "AND", "NOT", "title:", "author:",
                                                                   "foo:", "IN", "é", "\u00a0", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(QUERY_ALPHABET, max_size=15).map("".join)))
def test_any_accepted_query_runs(query):
    try:
        normal = validate_query(query)
    except QueryError as exc:
        assert exc.position is None or 0 <= exc.position <= len(query)
        return
    assert validate_query(normal) == normal
    for found in (rank(_HYPO_INDEX, query, limit=5), rank(_HYPO_INDEX, normal, after_id=2)):
        assert all(r.score >= 0 for r in found)


_HYPO_INDEX = build_index(hand_papers())


# ---------------------------------------------------------------- consistency on many ties


def tied_papers(n: int = 300) -> list[Paper]:
    """Many papers with identical texts (exact score ties) and a few distinct ones."""
    rng = random.Random(5)
    words = ["pooling", "token", "attention", "sparse", "medical", "agent", "graph"]
    papers = []
    for k in range(1, n + 1):
        text = "token pooling" if k % 3 else " ".join(rng.choices(words, k=rng.randint(2, 9)))
        papers.append(Paper(title=text, abstract=f"{text} study", key=f"k{k:04d}", id=k,
                            upvotes=rng.choice([None, 0, 1, 5]), published=date(2026, 1, 1 + k % 28)))
    return papers


@pytest.mark.parametrize("query", ["pooling", "token OR attention -medical", '"token pooling"', "sparse agent"])
def test_cursor_min_score_and_limit_agree_with_the_full_ranking(query):
    papers = tied_papers()
    index = build_index(papers)
    full = rank(index, query, limit=len(papers))
    assert len(full) > 50
    for after_id in (0, 10, 150, 290):
        for min_score in (0.0, full[len(full) // 2].score):
            for limit in (1, 10, 40):
                expected = [(r.paper.key, r.score) for r in full
                            if r.paper.id > after_id and r.score >= min_score][:limit]
                got = rank(index, query, limit=limit, min_score=min_score, after_id=after_id)
                assert [(r.paper.key, r.score) for r in got] == expected
    reshuffled = papers[:]
    random.Random(1).shuffle(reshuffled)
    assert keys(rank(build_index(reshuffled), query, limit=len(papers))) == keys(full)


@pytest.mark.parametrize("query", ["pooling", "token OR attention -medical", '"token pooling"', "sparse agent"])
def test_an_index_built_on_two_threads_ranks_as_one_thread_does(monkeypatch, query):
    papers = tied_papers(2 * ranking.PARALLEL_INDEX_FROM)
    monkeypatch.setattr(ranking.os, "cpu_count", lambda: 2)  # two threads even on a one-CPU machine
    # Which thread indexes which document is up to tantivy's scheduling: now and then one
    # thread takes them all and the index has one segment. Build until it has two.
    builds = (build_index(papers) for _ in range(20))
    two = next((index for index in builds if index._searcher.num_segments == 2), None)
    assert two is not None, "20 builds on two threads never made a two-segment index"
    monkeypatch.setattr(ranking, "PARALLEL_INDEX_FROM", len(papers) + 1)
    one = build_index(papers)
    assert one._searcher.num_segments == 1
    got = [(r.paper.key, r.score, r.matched) for r in rank(two, query, limit=len(papers))]
    assert len(got) > 100
    assert got == [(r.paper.key, r.score, r.matched) for r in rank(one, query, limit=len(papers))]
    assert [(r.paper.key, r.score) for r in rank(two, query, limit=10, after_id=len(papers) // 2)] == \
        [(r.paper.key, r.score) for r in rank(one, query, limit=10, after_id=len(papers) // 2)]


def test_odd_arguments_and_papers():
    assert rank(build_index([]), "pooling") == [] and rank(build_index([]), "") == []
    index = build_index([Paper(title="Pooling", key="unsaved"), Paper(title="Pooling", key="old", id=3)])
    assert keys(rank(index, "pooling", after_id=5)) == ["unsaved"]  # no id yet: always new
    assert len(rank(index, "pooling", min_score=float("nan"), limit=10**9)) == 2
    assert len(rank(index, "pooling", min_score=-1.0)) == 2


def test_matched_lists_each_term_once_as_first_written(hand):
    [r] = [r for r in rank(hand, "normalize Layer normalize -medical title:layer") if r.paper.key == "normalization"]
    assert r.matched == ("normalize", "Layer")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["a", "é", "x" * 41, "ß", "İ", "\u0301", "\u0816", "न", "\u093e", "_", " ", "-", "Ⅻ", "Ⓐ", "ﬁ", "é" * 20, "😀"]),
    max_size=20).map("".join)))
def test_fast_tokenizer_agrees_with_tantivy(text):
    from digest.highlight import STEMMER as _STEMMER, tokenize as _tokenize

    expected = [(t.position, t.text, t.char_offset_from, t.char_offset_to) for t in _STEMMER.pre_tokenize(text).tokens]
    assert _tokenize(text) == expected


@pytest.mark.parametrize("terms", [
    ["agents", '"language models"', "author:zhang", "title:robust", "LLM-as-a-judge"],
    ['"sparse attention"', "reasoning", "abstract:video", 'author:"Haoran Xu"', "latent"],
])
def test_matched_agrees_with_searching_each_term_alone(hf, terms):
    alone = {t: set(keys(rank(hf, t, limit=30))) for t in terms}
    for r in rank(hf, " ".join(terms), limit=30):
        expected = tuple(t.split(":", 1)[-1].strip('"') for t in terms if r.paper.key in alone[t])
        assert r.matched == expected, r.paper.title


def test_planner_mode_ranks_the_same_without_snippets():
    subs = [Subscriber(email=f"s{i}@x", interests=q, max_papers=4)
            for i, q in enumerate(["agent", '"language model" -video', "author:zhang OR retrieval", ""])]
    full = [[(r.paper.key, r.score, r.matched) for r in ranked] for _, ranked in rank_subscribers(build_index(hf_papers()), subs)]
    lean = list(rank_subscribers(build_index(hf_papers()), subs, snippets=False))
    assert [[(r.paper.key, r.score, r.matched) for r in ranked] for _, ranked in lean] == full
    assert all(r.snippet == "" for _, ranked in lean for r in ranked)
    assert any(ranked for ranked in full)


@pytest.mark.parametrize("item", ["a b", "a b c", "a b c d e f", "title:a b"])
def test_the_normalised_form_of_any_valid_query_ranks(item):
    """A query of the longest allowed length normalises to up to ~3.3x that (feeds and previews
    rank the normal form): the ranker must take it, not refuse it as too long (it was a 500)."""
    query = ",".join([item] * 400)[:1000].rstrip(",").rstrip()
    canonical = validate_query(query)
    assert len(canonical) > 1500
    paper = Paper(title="a b c d e f", abstract="a b c d e f", id=1, key="k1")
    assert [r.paper.key for r in rank(build_index([paper]), canonical)] == ["k1"]


def test_what_a_subscriber_writes_is_still_limited_to_1000_characters():
    with pytest.raises(QueryError, match="longer than 1000"):
        validate_query("pooling " * 130)
