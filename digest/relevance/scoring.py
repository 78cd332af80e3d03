"""Score candidates for many profiles at once, fuse with keyword scores, explain the picks.

The hot path is three matrix products per batch of profiles (sparse TF-IDF x stacked sparse
weights, dense x stacked dense vectors), then z-scores over the candidates: no Python loop
over papers. Each view is z-scored over the day's candidates before summing, so views on
different scales count equally and a profile's scores read as "standard deviations above
this day's average paper".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from digest.relevance.background import Candidates
from digest.relevance.features import WORD_BUCKETS
from digest.relevance.profile import Profile

__all__ = ["KEYWORD_WEIGHT", "SIMILARITY_FLOOR", "Because", "explain", "fuse_scores", "score_profiles"]

TOP3_COLUMNS = 8192  # liked papers per product in _top3_similarity
BATCH = 512  # profiles per matrix product: bounds memory at ~2,000 x 512 x 3 floats
# The best keyword match of the day adds this many standard deviations of the learned score.
# Dev split, liked titles as the query (a weak stand-in for a deliberate query): weight 0.5 / 1 /
# 2 cost 0.004 / 0.007 / 0.014 nDCG@10 at k=10 against no keyword. A subscriber's own query
# states intent, so it keeps a real say: 1.0, a paper 1 sd more like the likes still wins.
KEYWORD_WEIGHT = 1.0
# Cosine (centred, IDF-pooled WordLlama) below which a liked paper is not named as the reason.
# Measured on the arXiv corpus: random pairs have median 0.00 and 99th percentile 0.26; the
# nearest of 10 random likes has median 0.16, 90th percentile 0.26. So 0.25 names a paper
# only when it is closer than chance would make it.
SIMILARITY_FLOOR = 0.25
# Learned fusion (stacking): each view's z-score gets weight BASE + SLOPE * log(likes), likes
# clamped to 1..FUSION_MAX_LIKES (the range it was fitted on). Views in order: word SVM, dense
# LR, dense centroid, LSA LR, LSA centroid, and the mean of the 3 largest cosines to single
# liked papers (dense). Fitted once as a logistic regression (C = 0.01) of relevance on these
# twelve products over every (researcher, candidate) of both tuning splits (bench_relevance
# --dev and --dev-reverse, 1 draw; labels = categories of days 1-12 only). Fitted on one split,
# tested on the other, nDCG@10 at k = 3/10/30 against equal weights on the first four views:
# dev +0.003/-0.005/+0.010, dev-reverse +0.013/-0.005/+0.020.
FUSION_BASE = np.array([0.017, 0.298, 0.268, 0.247, 0.232, 0.245], np.float32)
FUSION_SLOPE = np.array([0.016, 0.175, -0.097, 0.157, -0.019, -0.124], np.float32)
FUSION_MAX_LIKES = 30


def _z(scores: np.ndarray) -> np.ndarray:
    """z-score each column (a profile's scores over the candidates); constant columns -> 0."""
    centred = scores - scores.mean(axis=0, keepdims=True)
    std = centred.std(axis=0, keepdims=True)
    return centred / np.where(std > 1e-9, std, 1.0)


def _sparse_weights(profiles: Sequence[Profile]) -> sp.csc_matrix:
    indptr = np.zeros(len(profiles) + 1, dtype=np.int64)
    np.cumsum([len(p.sparse_index) for p in profiles], out=indptr[1:])
    index = np.concatenate([p.sparse_index for p in profiles]).astype(np.int32)
    weight = np.concatenate([p.sparse_weight for p in profiles]).astype(np.float32)
    return sp.csc_matrix((weight, index, indptr), shape=(WORD_BUCKETS, len(profiles)))


def _top3_similarity(profiles: Sequence[Profile], dense: np.ndarray) -> np.ndarray:
    """(candidates, profiles): mean of each candidate's 3 largest cosines to the profile's likes.
    Profiles with the same number of likes share one product and one partition (vectorised)."""
    out = np.zeros((len(dense), len(profiles)), np.float32)
    counts = np.array([len(p.liked_dense) for p in profiles])
    for k in np.unique(counts[counts > 0]):
        group = np.flatnonzero(counts == k)
        for start in range(0, len(group), max(1, TOP3_COLUMNS // k)):  # bounds memory at ~2,000 x 8,192
            part = group[start:start + max(1, TOP3_COLUMNS // k)]
            liked = np.concatenate([profiles[j].liked_dense for j in part]).astype(np.float32)
            sims = (dense @ liked.T).reshape(len(dense), len(part), k)
            if k > 3:
                sims = np.partition(sims, k - 3, axis=2)[:, :, -3:]
            out[:, part] = sims.mean(axis=2)
    return out


def _score_batch(profiles: Sequence[Profile], candidates: Candidates) -> np.ndarray:
    words = (candidates.words @ _sparse_weights(profiles)).toarray()
    dense = candidates.dense @ np.stack([p.dense_lr for p in profiles] + [p.centroid for p in profiles]).T
    n = len(profiles)
    likes = np.clip([len(p.liked_ids) for p in profiles], 1, FUSION_MAX_LIKES)
    weight = FUSION_BASE + np.log(likes)[:, None] * FUSION_SLOPE  # (profiles, views)
    fused = _z(words) * weight[:, 0] + _z(dense[:, :n]) * weight[:, 1] + _z(dense[:, n:]) * weight[:, 2]
    if candidates.lsa is not None and candidates.lsa.shape[1]:
        lsa = candidates.lsa @ np.stack([p.lsa_lr for p in profiles] + [p.lsa_centroid for p in profiles]).T
        fused += _z(lsa[:, :n]) * weight[:, 3] + _z(lsa[:, n:]) * weight[:, 4]
    fused += _z(_top3_similarity(profiles, candidates.dense)) * weight[:, 5]
    return _z(fused).T.astype(np.float32)


def score_profiles(profiles: Sequence[Profile], candidates: Candidates) -> np.ndarray:
    """Learned scores, shape (len(profiles), len(candidates)), in standard deviations over the
    candidates (higher = more like the profile's likes). Raises ValueError for a profile fitted
    against another background or model (refit it)."""
    out = np.zeros((len(profiles), len(candidates)), dtype=np.float32)
    if not len(candidates):
        return out
    for p in profiles:
        if p.background != candidates.background:
            raise ValueError(f"profile fitted with background {p.background}, candidates use "
                             f"{candidates.background}: refit it")
    for start in range(0, len(profiles), BATCH):
        out[start:start + BATCH] = _score_batch(profiles[start:start + BATCH], candidates)
    return out


def fuse_scores(learned: np.ndarray, keyword: np.ndarray | None) -> np.ndarray:
    """Final ranking score: the learned score (from `score_profiles`) plus the keyword score
    scaled so the day's best BM25 match adds KEYWORD_WEIGHT. `keyword` is aligned with the
    candidates, 0 (or NaN) where the query does not match; None when there is no query.
    Exclusions are not handled here: the caller drops excluded papers before or after."""
    if keyword is None:
        return learned
    kw = np.nan_to_num(np.asarray(keyword, dtype=np.float32), nan=0.0)
    top = kw.max(axis=-1, keepdims=True) if kw.size else 0.0
    return learned + KEYWORD_WEIGHT * kw / np.where(top > 0, top, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Because:
    """Why a paper was picked: the liked paper it most resembles and whether that drove it."""

    liked_id: str  # an id from Profile.liked_ids
    liked_index: int
    similarity: float  # cosine in the dense space, -1..1
    by_similarity: bool  # say "like <title>" only when True


def explain(profile: Profile, candidates: Candidates, rows: Sequence[int], *,
            learned: np.ndarray | None = None, keyword: np.ndarray | None = None) -> list[Because]:
    """For each candidate row picked, the nearest liked paper. `by_similarity` is True when it
    is similar enough (SIMILARITY_FLOOR) and the learned part of its score (the row of
    `score_profiles`) outweighed the keyword part (`fuse_scores`' share), or there was none."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows) or not len(profile.liked_ids):
        return []
    sims = candidates.dense[rows] @ profile.liked_dense.astype(np.float32).T
    nearest = sims.argmax(axis=1)
    best = sims[np.arange(len(rows)), nearest]
    driven = best >= SIMILARITY_FLOOR
    if keyword is not None and learned is not None:
        share = fuse_scores(np.zeros_like(learned), keyword)
        driven &= learned[rows] >= share[rows]
    return [Because(liked_id=profile.liked_ids[j], liked_index=int(j), similarity=float(s), by_similarity=bool(d))
            for j, s, d in zip(nearest, best, driven)]
