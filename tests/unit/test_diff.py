"""Paper identity and the snapshot diff, on plain records."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from digest.diff import KnownPapers, changes, dedupe, diff_snapshot, normalize_title, paper_key, strip_version
from digest.models import Paper


def stored(paper: Paper, id_: int) -> Paper:
    return replace(paper, id=id_, key=paper_key(paper))


def test_normalised_title_folds_case_punctuation_spacing_and_unicode():
    assert normalize_title("  PoNet:  Pooling-Network\tfor   Token Mixing! ") == "ponet pooling network for token mixing"
    assert normalize_title("ﬁltering Ｄata") == normalize_title("Filtering Data")
    assert normalize_title("Straße") == normalize_title("STRASSE")


def test_key_prefers_arxiv_id_then_doi_then_title():
    assert paper_key(Paper("T", arxiv_id="2609.26811v2", doi="10.1/X")) == "arxiv:2609.26811"
    assert paper_key(Paper("T", doi="10.1093/Bio/BTAC431")) == "doi:10.1093/bio/btac431"
    by_title = paper_key(Paper("Data Filtering Networks"))
    assert by_title.startswith("title:") and by_title == paper_key(Paper("data filtering   networks."))


def test_strip_version_handles_new_and_old_style_ids():
    assert strip_version("2205.06398v2") == "2205.06398"
    assert strip_version("cond-mat/0102536v1") == "cond-mat/0102536"
    assert strip_version("2205.06398") == "2205.06398"


def test_same_paper_from_listing_api_and_rss_is_one_paper():
    listing = stored(Paper("Outlier Detection for Multi-Network Data", "abstract"), 1)
    known = KnownPapers.of([listing])
    from_api = Paper("Outlier detection for multi-network data", "abstract", arxiv_id="2205.06398", upvotes=4)
    result = diff_snapshot([from_api], known)
    assert result.new == [] and result.updated == {1: {"arxiv_id": "2205.06398", "upvotes": 4}}
    known = KnownPapers.of([replace(listing, arxiv_id="2205.06398", upvotes=4)])
    from_rss = Paper("A renamed title", "abstract", arxiv_id="2205.06398", upvotes=4)
    assert diff_snapshot([from_rss], known).unchanged == [1]


def test_same_title_different_arxiv_ids_are_different_papers():
    known = KnownPapers.of([stored(Paper("Introduction", "a", arxiv_id="2101.00001"), 1)])
    result = diff_snapshot([Paper("Introduction", "b", arxiv_id="2101.00002")], known)
    assert len(result.new) == 1 and result.new[0].key == "arxiv:2101.00002"


def test_replace_updates_text_but_a_plain_relisting_keeps_it():
    old = stored(Paper("Random Polytopes", "old abstract", arxiv_id="2009.13987", authors=("A",)), 7)
    relisted = Paper("Random Polytopes (v3)", "new abstract", arxiv_id="2009.13987", authors=("A", "B"))
    assert changes(old, relisted) == {}
    revised = replace(relisted, announce_type="replace")
    assert changes(old, revised) == {
        "title": "Random Polytopes (v3)", "abstract": "new abstract", "authors": ("A", "B"), "author_count": 2,
    }


def test_metadata_fills_gaps_and_upvotes_follow_the_newest_listing():
    old = stored(Paper("T", "abs", upvotes=3), 1)
    found = changes(old, Paper("T", "abs", author_count=5, published=date(2024, 12, 8), upvotes=9))
    assert found == {"author_count": 5, "published": date(2024, 12, 8), "upvotes": 9}
    assert changes(old, Paper("T", "abs", upvotes=None)) == {}


def test_links_and_categories_merge():
    old = stored(Paper("T", links={"abs": "https://arxiv.org/abs/1"}, categories=("cs.LG",)), 1)
    found = changes(old, Paper("T", links={"hf": "https://huggingface.co/papers/1"}, categories=("cs.LG", "cs.AI")))
    assert found["links"] == {"abs": "https://arxiv.org/abs/1", "hf": "https://huggingface.co/papers/1"}
    assert found["categories"] == ("cs.LG", "cs.AI")


def test_repeats_inside_one_snapshot_merge_into_the_first():
    papers = [
        Paper("Outlier Detection", "x", arxiv_id="2205.06398v2", announce_type="new"),
        Paper("Something else", "y"),
        Paper("Outlier Detection", "x", arxiv_id="2205.06398v2", announce_type="cross", doi="10.1/b"),
    ]
    unique = dedupe(papers)
    assert [p.title for p in unique] == ["Outlier Detection", "Something else"]
    assert unique[0].arxiv_id == "2205.06398" and unique[0].doi == "10.1/b"


def test_new_paper_sightings_keep_listing_order_and_upvotes():
    result = diff_snapshot([Paper("B", "b", upvotes=2), Paper("A", "a", upvotes=None)], KnownPapers())
    assert [key for key, _ in result.sightings] == [p.key for p in result.new]
    assert [upvotes for _, upvotes in result.sightings] == [2, None]


def test_two_listed_papers_matching_one_stored_title_do_not_merge():
    known = KnownPapers.of([stored(Paper("Introduction", "a"), 1)])
    result = diff_snapshot(
        [Paper("Introduction", "a", arxiv_id="2101.00001"), Paper("Introduction", "b", arxiv_id="2101.00002")], known
    )
    assert result.updated == {1: {"arxiv_id": "2101.00001"}}
    assert [p.key for p in result.new] == ["arxiv:2101.00002"]
    assert len({key for key, _ in result.sightings}) == 2


@given(st.lists(st.tuples(st.sampled_from(["A", "a!", "B", "C c"]), st.sampled_from([None, "1", "2"])), max_size=12))
def test_diff_is_idempotent(items):
    papers = [Paper(title, "abstract", arxiv_id=arxiv) for title, arxiv in items]
    first = diff_snapshot(dedupe(papers), KnownPapers())
    known = KnownPapers.of(replace(p, id=i) for i, p in enumerate(first.new, start=1))
    again = diff_snapshot(dedupe(papers), known)
    assert again.new == [] and again.updated == {}
    assert len(again.unchanged) == len(first.sightings)


def test_an_abstract_that_carries_the_stored_one_on_replaces_it():
    """A cut-off copy (the last paper of a save cut short) is completed by a later full listing."""
    cut = stored(Paper("Denoisers", "Deep networks trained for denoising are"), 3)
    full = Paper("Denoisers", "Deep networks trained for denoising are biased. Code: https://example.github.io/x/")
    assert changes(cut, full) == {"abstract": full.abstract}
    rewrapped = Paper("Denoisers", "Deep networks  trained\nfor denoising are biased towards harmonic bases.")
    assert changes(cut, rewrapped) == {"abstract": rewrapped.abstract}


def test_a_shorter_or_different_abstract_never_replaces_the_stored_one():
    full = stored(Paper("Denoisers", "Deep networks trained for denoising are biased."), 3)
    assert changes(full, Paper("Denoisers", "Deep networks trained for")) == {}
    assert changes(full, Paper("Denoisers", "Another text of some greater length than the stored one.")) == {}


def test_repeats_in_one_listing_merge_into_the_fuller_copy():
    first = Paper("T", "", arxiv_id="2601.00001")
    second = Paper("T", "The abstract.", arxiv_id="2601.00001")
    assert [p.abstract for p in dedupe([first, second])] == ["The abstract."]
    cut = Paper("T", "The abs", arxiv_id="2601.00001")
    assert [p.abstract for p in dedupe([cut, second])] == ["The abstract."]


def test_two_papers_of_one_title_by_other_people_in_one_listing_stay_two():
    first = Paper("Introduction", "About graphs.", authors=("Ada Lovelace", "Alan Turing"))
    other = Paper("Introduction", "About proteins.", authors=("Grace Hopper",))
    repeat = Paper("Introduction", "About graphs.", authors=("ada  lovelace",), upvotes=4)
    unique = dedupe([first, other, repeat])
    assert [p.abstract for p in unique] == ["About graphs.", "About proteins."]
    assert unique[0].upvotes == 4  # the repeat (same people) merged into its first entry
    result = diff_snapshot(unique, KnownPapers())
    assert len(result.new) == 2 and len({p.key for p in result.new}) == 2


def test_a_listing_of_two_same_title_papers_matches_each_to_its_stored_copy():
    graphs = stored(Paper("Introduction", "About graphs.", authors=("Ada Lovelace",)), 1)
    proteins = stored(Paper("Introduction", "About proteins.", authors=("Grace Hopper",)), 2)
    known = KnownPapers.of([graphs, replace(proteins, key=proteins.key + "-2")])  # as the second got it
    again = dedupe([Paper("Introduction", "About proteins.", authors=("Grace Hopper",), upvotes=3),
                    Paper("Introduction", "About graphs.", authors=("Ada Lovelace",))])
    result = diff_snapshot(again, known)
    assert result.new == []
    assert result.updated[2]["upvotes"] == 3 and "upvotes" not in result.updated.get(1, {})  # each to its own
