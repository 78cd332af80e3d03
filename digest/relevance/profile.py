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
import json
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
        """`_MAGIC`, a JSON header (strings, and each array's dtype, shape and offset), then the
        arrays' raw bytes. Not numpy's .npz: reading an .npz costs ~0.55 ms (a zip archive per
        profile), and the planner reads every subscriber's profile each day; this ~0.03 ms."""
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}
        layout, chunks, offset = {}, [], 0
        for name, array in arrays.items():  # each array starts 8-byte aligned (frombuffer views it in place)
            layout[name] = [array.dtype.str, list(array.shape), offset]
            chunks.append(array.tobytes() + bytes(-array.nbytes % 8))
            offset += len(chunks[-1])
        header = json.dumps({"model": self.model, "background": self.background, "liked_ids": list(self.liked_ids),
                             "arrays": layout}, separators=(",", ":")).encode()
        header += b" " * (-(len(_MAGIC) + 4 + len(header)) % 8)
        return b"".join((_MAGIC, len(header).to_bytes(4, "little"), header, *chunks))

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """Raises ValueError when the bytes are not a profile of this format (refit it)."""
        data = bytes(data)  # a database driver may hand over a memoryview
        try:
            if not data.startswith(_MAGIC):
                raise ValueError("not this profile format")
            size = int.from_bytes(data[len(_MAGIC):len(_MAGIC) + 4], "little")
            start = len(_MAGIC) + 4 + size
            head = json.loads(data[len(_MAGIC) + 4:start])
            arrays = {}
            for name in _ARRAYS:
                dtype, shape, offset = head["arrays"][name]
                count = int(np.prod(shape, dtype=np.int64))
                arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype), count=count,
                                             offset=start + offset).reshape(shape)
            return cls(model=head["model"], background=head["background"], liked_ids=tuple(head["liked_ids"]),
                       **arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"profile model: unreadable bytes ({exc}): refit it") from exc


_MAGIC = b"PDPROF1\n"
_ARRAYS = ("sparse_index", "sparse_weight", "dense_lr", "centroid", "lsa_lr", "lsa_centroid", "liked_dense")


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
