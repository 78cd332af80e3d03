"""Scoring, fusion with keyword scores, explanations; on a real arXiv extract (cs.RO = the interest)."""

from __future__ import annotations

import numpy as np
import pytest

from digest import relevance as rel
from digest.ranking import build_index, rank


@pytest.fixture(scope="module")
def robot_profile(extract, background) -> rel.Profile:
    liked = extract.robotics(extract.day1)[:5]
    return rel.fit_profile(background, extract.prepare(background, liked))


@pytest.fixture(scope="module")
def day2(extract, background) -> rel.Candidates:
    return extract.prepare(background, extract.day2)


def _keyword(extract, query: str) -> np.ndarray:
    papers = [extract.papers[i] for i in extract.day2]
    position = {p.id: j for j, p in enumerate(papers)}
    scores = np.zeros(len(papers), dtype=np.float32)
    for r in rank(build_index(papers), query, limit=len(papers)):
        scores[position[r.paper.id]] = r.score
    return scores


def test_likes_find_the_interest(extract, robot_profile, day2):
    """5 robotics likes: the top 10 of the next day are mostly robotics (prevalence 18%)."""
    scores = rel.score_profiles([robot_profile], day2)[0]
    top = np.argsort(-scores)[:10]
    robotics = set(extract.robotics(extract.day2))
    assert sum(extract.day2[t] in robotics for t in top) >= 5


def test_a_paper_like_the_likes_outranks_a_keyword_false_friend(extract, robot_profile, day2):
    """Query "manipulation": its best non-robotics match is about adversarially manipulating a
    model; robot-manipulation papers that match it less well must still come first."""
    keyword = _keyword(extract, "manipulation")
    robotics = set(extract.robotics(extract.day2))
    others = [j for j in np.flatnonzero(keyword) if extract.day2[j] not in robotics]
    false_friend = max(others, key=lambda j: keyword[j])
    assert "Manipulate" in day2_title(extract, false_friend)
    weaker_robotics = [j for j in np.flatnonzero(keyword) if extract.day2[j] in robotics
                       and keyword[j] < keyword[false_friend]]
    assert weaker_robotics
    learned = rel.score_profiles([robot_profile], day2)[0]
    resembling = max(weaker_robotics, key=lambda j: learned[j])  # the robotics match most like the likes
    fused = rel.fuse_scores(learned, keyword)
    assert fused[resembling] > fused[false_friend]
    assert np.argsort(-keyword).tolist().index(false_friend) < np.argsort(-fused).tolist().index(false_friend)


def day2_title(extract, row: int) -> str:
    return extract.papers[extract.day2[row]].title


def test_explanation_names_the_nearest_liked_paper(extract, background, day2):
    liked_rows = [extract.day2[3], extract.day2[40]]  # like two of the day's own papers
    profile = rel.fit_profile(background, extract.prepare(background, liked_rows))
    (first, second) = rel.explain(profile, day2, [3, 40])
    assert (first.liked_id, first.liked_index) == (str(extract.papers[liked_rows[0]].id), 0)
    assert (second.liked_id, second.liked_index) == (str(extract.papers[liked_rows[1]].id), 1)
    assert first.similarity == pytest.approx(1.0, abs=1e-3) and first.by_similarity


def test_a_keyword_driven_pick_is_not_explained_by_similarity(extract, robot_profile, day2):
    keyword = _keyword(extract, "manipulation")
    learned = rel.score_profiles([robot_profile], day2)[0]
    robotics = set(extract.robotics(extract.day2))
    false_friend = max((j for j in np.flatnonzero(keyword) if extract.day2[j] not in robotics), key=lambda j: keyword[j])
    (why,) = rel.explain(robot_profile, day2, [false_friend], learned=learned, keyword=keyword)
    assert not why.by_similarity
    assert why.liked_id in robot_profile.liked_ids


def test_batched_scores_equal_one_at_a_time(extract, background, day2):
    profiles = [rel.fit_profile(background, extract.prepare(background, extract.day1[k:k + 3])) for k in range(0, 30, 3)]
    together = rel.score_profiles(profiles, day2)
    assert together.shape == (10, len(extract.day2))
    for p, row in zip(profiles, together):
        assert np.allclose(rel.score_profiles([p], day2)[0], row, atol=1e-5)


def test_batched_scores_equal_one_at_a_time_with_any_number_of_likes(extract, background, day2):
    # Profiles with the same number of likes share a product in the fusion: mix the counts.
    profiles = [rel.fit_profile(background, extract.prepare(background, extract.day1[s:s + n]))
                for s, n in ((0, 1), (1, 2), (3, 5), (8, 1), (9, 12), (21, 5), (26, 40))]
    together = rel.score_profiles(profiles, day2)
    for p, row in zip(profiles, together):
        assert np.allclose(rel.score_profiles([p], day2)[0], row, atol=1e-5)


def test_scores_are_standardised_over_the_candidates(robot_profile, day2):
    scores = rel.score_profiles([robot_profile], day2)[0]
    assert abs(scores.mean()) < 1e-4 and scores.std() == pytest.approx(1.0, abs=1e-3)


def test_degenerate_inputs(extract, background, robot_profile, day2):
    assert rel.score_profiles([robot_profile], extract.prepare(background, [])).shape == (1, 0)
    assert rel.score_profiles([], day2).shape == (0, len(extract.day2))
    one = rel.score_profiles([robot_profile], extract.prepare(background, extract.day2[:1]))
    assert one.shape == (1, 1) and np.isfinite(one).all()
    assert rel.explain(robot_profile, day2, []) == []


def test_one_like_ranks_its_near_copy_first(extract, background, day2):
    row = extract.day2[10]
    profile = rel.fit_profile(background, extract.prepare(background, [row]))
    assert int(np.argmax(rel.score_profiles([profile], day2)[0])) == 10


def test_fuse_scores():
    learned = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    assert rel.fuse_scores(learned, None) is learned
    fused = rel.fuse_scores(learned, np.array([4.0, np.nan, 0.0]))
    assert fused.tolist() == pytest.approx([0.5 + rel.KEYWORD_WEIGHT, -1.0, 2.0])
    assert rel.fuse_scores(learned, np.zeros(3)).tolist() == pytest.approx(learned.tolist())
