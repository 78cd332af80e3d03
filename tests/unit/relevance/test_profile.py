"""Profiles: fitted from likes, dislikes and the background; digests; bytes round trips."""

from __future__ import annotations

import numpy as np
import pytest

from digest import relevance as rel


def test_labels_digest_changes_when_labels_change():
    base = rel.labels_digest([1, 2], [3], background="bg-a")
    assert rel.labels_digest([2, 1], [3], background="bg-a") == base  # order does not matter
    assert rel.labels_digest([1, 2, 4], [3], background="bg-a") != base  # a new like
    assert rel.labels_digest([1], [2, 3], background="bg-a") != base  # a like became a dislike
    assert rel.labels_digest([1, 2], [3], [9], background="bg-a") != base  # an implicit negative
    assert rel.labels_digest([1, 2], [3], background="bg-b") != base  # other corpus statistics
    assert rel.labels_digest([12], background="x") != rel.labels_digest([1], [2], background="x")


def test_no_like_no_profile(extract, background):
    empty = extract.prepare(background, [])
    assert rel.fit_profile(background, empty) is None
    assert rel.fit_profile(background, empty, disliked=extract.prepare(background, extract.day1[:2])) is None


def test_profile_bytes_round_trip(extract, background):
    liked = extract.robotics(extract.day1)[:5]
    profile = rel.fit_profile(background, extract.prepare(background, liked))
    again = rel.Profile.from_bytes(profile.to_bytes())
    assert again.model == rel.MODEL and again.background == background.version
    assert again.liked_ids == tuple(str(extract.papers[i].id) for i in liked)
    cands = extract.prepare(background, extract.day2)
    assert np.array_equal(rel.score_profiles([profile], cands), rel.score_profiles([again], cands))
    assert len(profile.to_bytes()) < 40_000


def test_unreadable_profile_bytes_say_refit():
    with pytest.raises(ValueError, match="refit"):
        rel.Profile.from_bytes(b"not a profile")


def test_profile_bytes_of_an_older_format_say_refit(extract, background):
    """Profiles stored by earlier releases (numpy .npz archives, some without `lsa_centroid`)
    must be refitted, and so must bytes cut short."""
    import io

    profile = rel.fit_profile(background, extract.prepare(background, extract.robotics(extract.day1)[:3]))
    arrays = {name: getattr(profile, name) for name in ("sparse_index", "sparse_weight", "dense_lr", "centroid",
                                                        "lsa_lr", "lsa_centroid", "liked_dense")}
    for dropped in (None, "lsa_centroid"):
        buf = io.BytesIO()
        np.savez(buf, model=np.array(profile.model), background=np.array(profile.background),
                 liked_ids=np.array(profile.liked_ids, dtype=str),
                 **{name: value for name, value in arrays.items() if name != dropped})
        with pytest.raises(ValueError, match="refit"):
            rel.Profile.from_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="refit"):
        rel.Profile.from_bytes(profile.to_bytes()[:-100])


def test_profile_bytes_from_a_database_driver_memoryview(extract, background):
    profile = rel.fit_profile(background, extract.prepare(background, extract.robotics(extract.day1)[:3]))
    again = rel.Profile.from_bytes(memoryview(profile.to_bytes()))
    assert again.liked_ids == profile.liked_ids and np.array_equal(again.liked_dense, profile.liked_dense)


def test_background_bytes_round_trip(extract, background):
    again = rel.Background.from_bytes(background.to_bytes())
    assert again.version == background.version
    a, b = (extract.prepare(bg, extract.day2[:30]) for bg in (background, again))
    assert np.allclose(a.dense, b.dense) and (a.words != b.words).nnz == 0
    assert np.allclose(a.lsa, b.lsa, atol=1e-6)


def test_lsa_view_places_papers_of_one_interest_together(extract, background):
    """The LSA view: unit vectors of at most LSA_DIM dims, fitted on the background's TF-IDF;
    two robotics papers are closer in it, on average, than a robotics paper and another one."""
    cands = extract.prepare(background, extract.day2)
    assert 1 <= cands.lsa.shape[1] <= rel.background.LSA_DIM
    assert np.allclose(np.linalg.norm(cands.lsa, axis=1), 1.0, atol=1e-4)
    robots = set(extract.robotics(extract.day2))
    is_robot = np.array([i in robots for i in extract.day2])
    sims = cands.lsa @ cands.lsa.T
    np.fill_diagonal(sims, np.nan)
    assert np.nanmean(sims[is_robot][:, is_robot]) > np.nanmean(sims[is_robot][:, ~is_robot]) + 0.03


def test_a_background_of_one_paper_has_no_lsa_view_and_still_ranks(extract):
    tiny = rel.Background.build([extract.features[extract.day1[0]]])
    assert tiny.prepare([extract.features[i] for i in extract.day2[:5]]).lsa.shape == (5, 0)
    liked = extract.robotics(extract.day1)[:2]
    profile = rel.fit_profile(tiny, extract.prepare(tiny, liked))
    assert profile.lsa_lr.shape == (0,)
    assert rel.score_profiles([profile], extract.prepare(tiny, extract.day2)).shape == (1, len(extract.day2))


def test_background_is_deterministic_and_versioned_by_content(extract, background):
    rows = extract.day1
    same = rel.Background.build([extract.features[i] for i in rows], ids=[extract.papers[i].id for i in rows],
                                negatives=100)
    other = rel.Background.build([extract.features[i] for i in rows[:-1]],
                                 ids=[extract.papers[i].id for i in rows[:-1]], negatives=100)
    assert same.version == background.version != other.version


def test_background_needs_papers():
    with pytest.raises(ValueError, match="at least one"):
        rel.Background.build([])


def test_likes_are_not_their_own_negatives(extract, background):
    liked = [i for i in extract.day1 if str(extract.papers[i].id) in set(background.negatives.ids)][:3]
    assert liked, "the extract's background sample should contain day-1 papers"
    profile = rel.fit_profile(background, extract.prepare(background, liked))
    scores = rel.score_profiles([profile], extract.prepare(background, liked + extract.day2))[0]
    assert np.all(scores[:len(liked)] > np.percentile(scores, 95))


def test_a_dislike_lowers_similar_papers(extract, background):
    robots = extract.robotics(extract.day1)
    others = [i for i in extract.day1 if i not in robots]
    cands = extract.prepare(background, extract.day2)
    liked = extract.prepare(background, robots[:3] + others[:3])
    plain = rel.fit_profile(background, liked)
    with_dislikes = rel.fit_profile(background, liked, disliked=extract.prepare(background, robots[3:8]))
    robot_rows = [k for k, i in enumerate(extract.day2) if i in set(extract.robotics(extract.day2))]
    before, after = (rel.score_profiles([p], cands)[0][robot_rows].mean() for p in (plain, with_dislikes))
    assert after < before


def test_a_profile_from_another_background_is_refused(extract, background):
    other = rel.Background.build([extract.features[i] for i in extract.day2], negatives=50)
    profile = rel.fit_profile(background, extract.prepare(background, extract.day1[:2]))
    with pytest.raises(ValueError, match="refit"):
        rel.score_profiles([profile], extract.prepare(other, extract.day2))
    with pytest.raises(ValueError, match="background"):
        rel.fit_profile(background, extract.prepare(other, extract.day2[:2]))
