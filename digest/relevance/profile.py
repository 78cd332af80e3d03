"""A subscriber's fitted scorer: three linear views of their likes, kept small enough to store.

- `sparse`: a linear SVM (arxiv-sanity's learner: class-balanced hinge loss, C = 0.01) on the
  TF-IDF word features, likes against the background's sampled negatives, dislikes (weighted
  `DISLIKE_WEIGHT`) and implicit negatives; only the `KEEP_WEIGHTS` largest weights are kept.
- `dense_lr`: class-balanced logistic regression (C = 0.3) on the pooled WordLlama vectors.
- `lsa_lr`: class-balanced logistic regression (C = 0.3) on the LSA view (`background.py`).
- `centroid`: the mean liked vector (minus half the mean disliked one, Rocchio-style): with 1-3
  likes it is the steadiest of the three, and the dense views generalise from few examples
  where the words do not (dev split, nDCG@10 at k=3: words 0.252, dense LR 0.289, centroid 0.297).

- `lsa_centroid`: the mean liked LSA vector (minus half the mean disliked one).

Scores are fused by a learned, likes-dependent weighting of their z-scores over the candidates,
with a sixth view computed at scoring time from `liked_dense` (`scoring.py`).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from digest.relevance.background import Background, Candidates
from digest.relevance.features import MODEL

__all__ = ["Profile", "fit_profile", "labels_digest"]

SPARSE_C = 0.01  # arxiv-sanity-lite's value; nDCG@10 flat from 0.003 to 0.1 on the dev split
DENSE_C = 0.3  # dev split, k = 3/10/30: C = 0.3 beat 1 and 3 at every k
LSA_C = 0.3  # dev split: C = 0.3 beat 3 at k = 3/10/30
DISLIKE_WEIGHT = 3.0  # an explicit "less like this" counts three background papers (not benchmarked)
KEEP_WEIGHTS = 2000  # sparse weights kept per profile (16 kB); see bench_relevance --prune
MAX_LIKES = 1000  # most recent likes used; older ones still count in the labels digest


@dataclass(frozen=True, slots=True)
class Profile:
    """What `score_profiles` needs for one subscriber; `to_bytes` for `profile_models.data`."""

    model: str
    background: str  # Background.version it was fitted against
    sparse_index: np.ndarray  # int32 word buckets
    sparse_weight: np.ndarray  # float32
    dense_lr: np.ndarray  # float32 (256,)
    centroid: np.ndarray  # float32 (256,), unit length
    lsa_lr: np.ndarray  # float32 (LSA dims,)
    lsa_centroid: np.ndarray  # float32 (LSA dims,): mean liked LSA vector (Rocchio, like `centroid`)
    liked_ids: tuple[str, ...]  # for explanations, in the order given to fit_profile
    liked_dense: np.ndarray  # float16 (likes, 256): the nearest liked paper of a pick

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, model=np.array(self.model), background=np.array(self.background),
                 sparse_index=self.sparse_index, sparse_weight=self.sparse_weight, dense_lr=self.dense_lr,
                 centroid=self.centroid, lsa_lr=self.lsa_lr, lsa_centroid=self.lsa_centroid,
                 liked_ids=np.array(self.liked_ids, dtype=str), liked_dense=self.liked_dense)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """Raises ValueError when the bytes are not a profile (refit it)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                return cls(str(z["model"]), str(z["background"]), z["sparse_index"], z["sparse_weight"],
                           z["dense_lr"], z["centroid"], z["lsa_lr"], z["lsa_centroid"], tuple(z["liked_ids"].tolist()), z["liked_dense"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"profile model: unreadable bytes ({exc}): refit it") from exc


def labels_digest(liked: Iterable, disliked: Iterable = (), implicit: Iterable = (), *, background: str) -> str:
    """A digest of everything a fit depends on: refit when it differs from the stored one."""
    h = hashlib.sha256(f"{MODEL}|{background}".encode())
    for name, ids in (("+", liked), ("-", disliked), ("~", implicit)):
        h.update(f"|{name}:".encode() + ",".join(sorted(map(str, ids))).encode())
    return h.hexdigest()


def _negatives(background: Background, liked: Candidates, others: Sequence[Candidates]) -> Candidates:
    """The background's negatives minus any paper the subscriber labelled."""
    labelled = {str(i) for c in (liked, *others) for i in c.ids}
    keep = [r for r, i in enumerate(background.negatives.ids) if i not in labelled]
    return background.negatives.subset(keep)


def _training(liked: Candidates, negatives: Sequence[tuple[Candidates, float]]):
    parts = [(liked, 1, 1.0), *((c, 0, w) for c, w in negatives if len(c))]
    y = np.concatenate([np.full(len(c), label) for c, label, _ in parts])
    weight = np.concatenate([np.full(len(c), w) for c, _, w in parts])
    words = sp.vstack([c.words for c, _, _ in parts]).tocsr()
    dense = np.vstack([c.dense for c, _, _ in parts])
    width = max((c.lsa.shape[1] for c, _, _ in parts if c.lsa is not None), default=0)
    lsa = np.vstack([c.lsa_or_zeros(width) for c, _, _ in parts])
    return words, dense, lsa, y, weight


def _top_weights(coef: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(coef)
    if len(idx) > keep:
        idx = idx[np.argpartition(-np.abs(coef[idx]), keep)[:keep]]
    idx = np.sort(idx)
    return idx.astype(np.int32), coef[idx].astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _rocchio(liked: np.ndarray, disliked: Candidates | None, view: str) -> np.ndarray:
    """Mean liked vector minus half the mean disliked one."""
    centre = liked.mean(axis=0)
    if disliked is not None and len(disliked):
        other = disliked.dense if view == "dense" else disliked.lsa_or_zeros(liked.shape[1])
        centre = centre - 0.5 * other.mean(axis=0)
    return centre


def fit_profile(background: Background, liked: Candidates, disliked: Candidates | None = None,
                implicit: Candidates | None = None, *, keep_weights: int = KEEP_WEIGHTS) -> Profile | None:
    """Fit a subscriber's scorer; None when there is no like (the caller ranks as before).

    All inputs come from `background.prepare`; `liked` in order, most recent last (only the
    last MAX_LIKES are used). Deterministic. ~20-60 ms; refit only when `labels_digest` changes."""
    if not len(liked):
        return None
    for c in (liked, disliked, implicit):
        if c is not None and c.background != background.version:
            raise ValueError(f"candidates prepared with background {c.background}, not {background.version}")
    liked = liked.subset(range(max(0, len(liked) - MAX_LIKES), len(liked)))
    others = [c for c in (disliked, implicit) if c is not None]
    negatives = [(_negatives(background, liked, others), 1.0), (disliked, DISLIKE_WEIGHT), (implicit, 1.0)]
    words, dense, lsa, y, weight = _training(liked, [(c, w) for c, w in negatives if c is not None])
    centroid, lsa_centroid = _rocchio(liked.dense, disliked, "dense"), _rocchio(lsa[:len(liked)], disliked, "lsa")
    if y.min() == 1:  # nothing to contrast with (an empty background): similarity alone
        return Profile(MODEL, background.version, np.zeros(0, np.int32), np.zeros(0, np.float32),
                       _unit(centroid), _unit(centroid), np.zeros(lsa.shape[1], np.float32), _unit(lsa_centroid), tuple(map(str, liked.ids)), liked.dense.astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm = LinearSVC(C=SPARSE_C, class_weight="balanced", max_iter=10000, tol=1e-6)
        svm.fit(words, y, sample_weight=weight)
        lr = LogisticRegression(C=DENSE_C, class_weight="balanced", max_iter=1000)
        lr.fit(dense, y, sample_weight=weight)
        lsa_lr = np.zeros(lsa.shape[1], np.float32)
        if lsa.shape[1]:
            lsa_lr = LogisticRegression(C=LSA_C, class_weight="balanced", max_iter=1000).fit(
                lsa, y, sample_weight=weight).coef_.ravel().astype(np.float32)
    index, values = _top_weights(svm.coef_.ravel(), keep_weights)
    return Profile(MODEL, background.version, index, values, lr.coef_.ravel().astype(np.float32), _unit(centroid),
                   lsa_lr, _unit(lsa_centroid), tuple(map(str, liked.ids)), liked.dense.astype(np.float16))
