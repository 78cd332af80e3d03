"""Corpus statistics (the background) and papers prepared against them for scoring.

IDF matters: on the dev split, hashed word features with IDF rank at nDCG@10 0.396 (k=10),
without it 0.348; IDF weights also lift pooled WordLlama vectors. IDF is a corpus statistic,
so it cannot live in the per-paper features (a paper's bytes would change as others arrive).
It lives here instead: `Background.build` counts document frequencies over a set of stored
features and keeps a seeded sample of them as generic negatives for profile fitting.

The background is a pure function of the features it is built from, and its `version` is
a digest of its content. So the caller needs no table for it: build it from the *first*
`BACKGROUND_SIZE` papers (by id) that have features; once the store holds that many it never
changes, and before then it changes as papers arrive and profiles refit (their labels digest
includes the version). IDF from 1,000 papers ranked as well as from 6,000 on the dev split.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from digest.relevance.features import (
    WORD_BUCKETS,
    PaperFeatures,
    embedding_table,
    stack,
)

__all__ = ["BACKGROUND_SIZE", "Background", "Candidates"]

BACKGROUND_SIZE = 5000  # papers whose document frequencies give the IDF
NEGATIVES = 500  # background papers sampled as generic negatives (500 vs 2,000: same nDCG)
# LSA: a truncated SVD of the background's TF-IDF over its LSA_VOCAB most frequent word buckets.
# Dev split, mean of 2 draws, nDCG@10 gain of its view at k = 3/10/30: 200-d over 2**15 buckets
# +0.000/+0.006/+0.010; 100-d +0.005/+0.005/+0.007; 300-d +0.001/+0.007/+0.012 (8x the SVD
# time); 2**14 or 2**16 buckets no better. SVD of 5,000 papers: ~2 s once per background.
LSA_DIM = 200
LSA_VOCAB = 2**15


@dataclass(frozen=True, slots=True)
class Candidates:
    """Papers ready to score: `words` is l2-normalised TF-IDF (CSR, sublinear tf), `dense` the
    IDF-weighted mean of WordLlama token vectors, centred on the background mean, l2-normalised;
    `lsa` the TF-IDF projected on the background's LSA basis, centred, l2-normalised."""

    ids: tuple
    words: sp.csr_matrix
    dense: np.ndarray  # float32, (n, 256)
    background: str = ""  # the version of the Background that prepared them
    lsa: np.ndarray | None = None  # float32, (n, LSA_DIM or fewer); None = no LSA view

    def lsa_or_zeros(self, width: int) -> np.ndarray:
        return self.lsa if self.lsa is not None else np.zeros((len(self.ids), width), np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: Sequence[int] | np.ndarray) -> Candidates:
        rows = np.asarray(rows, dtype=np.int64)
        lsa = None if self.lsa is None else self.lsa[rows]
        return Candidates(tuple(self.ids[i] for i in rows), self.words[rows], self.dense[rows], self.background, lsa)


def _idf(df: np.ndarray, n: int) -> np.ndarray:
    # scikit-learn's smooth IDF: a term in no background paper gets the highest weight.
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def _normalise_rows(m):
    if sp.issparse(m):
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ m
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def _pooled(tokens: sp.csr_matrix, token_idf: np.ndarray) -> np.ndarray:
    """IDF-weighted mean of token vectors: one sparse x dense product for the whole batch."""
    weighted = tokens @ sp.diags(token_idf)
    total = np.asarray(weighted.sum(axis=1)).reshape(-1, 1)
    return np.asarray(weighted @ embedding_table()) / np.maximum(total, 1e-12)


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    counts = counts.copy()
    counts.data = 1.0 + np.log(counts.data)  # sublinear tf
    return _normalise_rows(counts @ sp.diags(idf)).tocsr().astype(np.float32)


@dataclass(frozen=True, slots=True)
class Lsa:
    """Truncated SVD of the background's TF-IDF: kept word buckets, basis (len(cols), d), mean."""

    cols: np.ndarray  # int32, sorted
    basis: np.ndarray  # float32
    mean: np.ndarray  # float32 (d,)

    @classmethod
    def fit(cls, words: sp.csr_matrix, word_df: np.ndarray) -> Lsa:
        from sklearn.decomposition import TruncatedSVD
        from threadpoolctl import threadpool_limits

        top = np.argsort(-word_df, kind="stable")[:LSA_VOCAB]
        cols = np.sort(top[word_df[top] > 0]).astype(np.int32)
        d = min(LSA_DIM, words.shape[0] - 1, len(cols) - 1)
        if d < 1:
            return cls(cols[:0], np.zeros((0, 0), np.float32), np.zeros(0, np.float32))
        x = words[:, cols]
        # One BLAS thread: the same bytes on every run and machine thread count (with 2 threads the
        # basis differed by up to 3e-4, which would leave stored profiles slightly off their basis).
        with threadpool_limits(1):
            svd = TruncatedSVD(d, algorithm="randomized", n_iter=4, random_state=0).fit(x)
        basis = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        return cls(cols, basis, np.asarray(x @ basis).mean(axis=0).astype(np.float32))

    def project(self, words: sp.csr_matrix) -> np.ndarray:
        if not len(self.cols):
            return np.zeros((words.shape[0], 0), np.float32)
        return _normalise_rows(np.asarray(words[:, self.cols] @ self.basis) - self.mean).astype(np.float32)


class Background:
    """IDF of words and tokens, the mean pooled vector, an LSA basis and a sample of negatives."""

    def __init__(self, n: int, word_df: np.ndarray, token_df: np.ndarray, mean: np.ndarray,
                 negatives: Candidates, lsa: Lsa):
        self.n, self.word_df, self.token_df, self.mean, self.lsa = n, word_df, token_df, mean, lsa
        self.word_idf, self.token_idf = _idf(word_df, n), _idf(token_df, n)
        self.version = self._digest_of(negatives)
        self.negatives = Candidates(negatives.ids, negatives.words, negatives.dense, self.version,
                                    negatives.lsa_or_zeros(len(lsa.mean)))

    @classmethod
    def build(cls, features: Sequence[PaperFeatures], ids: Sequence | None = None, *,
              negatives: int = NEGATIVES, seed: int = 0) -> Background:
        """Statistics of these papers (pass at most BACKGROUND_SIZE, the oldest); deterministic.
        `ids` (default 0..n-1; kept as str) let a profile leave its own likes out of the negatives."""
        if not features:
            raise ValueError("a background needs at least one paper with features")
        ids = tuple(range(len(features))) if ids is None else tuple(ids)
        words, tokens = stack(features)
        word_df = np.bincount(words.indices, minlength=WORD_BUCKETS).astype(np.int32)
        token_df = np.bincount(tokens.indices, minlength=tokens.shape[1]).astype(np.int32)
        n = len(features)
        mean = _pooled(tokens, _idf(token_df, n)).mean(axis=0).astype(np.float32)
        lsa = Lsa.fit(_tfidf(words, _idf(word_df, n)), word_df)
        pick = np.sort(np.random.default_rng(seed).permutation(n)[:negatives])
        shell = cls(n, word_df, token_df, mean, Candidates((), sp.csr_matrix((0, WORD_BUCKETS)), mean[None, :0]), lsa)
        return cls(n, word_df, token_df, mean, shell.prepare([features[i] for i in pick], [str(ids[i]) for i in pick]),
                   lsa)

    def prepare(self, features: Sequence[PaperFeatures], ids: Sequence | None = None) -> Candidates:
        """Candidates for scoring (once per day for the day's papers, shared by every profile)."""
        ids = tuple(range(len(features))) if ids is None else tuple(ids)
        if not features:
            return Candidates(ids, sp.csr_matrix((0, WORD_BUCKETS), dtype=np.float32),
                              np.zeros((0, len(self.mean)), np.float32), self.version,
                              np.zeros((0, len(self.lsa.mean)), np.float32))
        words, tokens = stack(features)
        words = _tfidf(words, self.word_idf)
        dense = _normalise_rows(_pooled(tokens, self.token_idf) - self.mean).astype(np.float32)
        return Candidates(ids, words, dense, self.version, self.lsa.project(words))

    def _digest_of(self, negatives: Candidates) -> str:
        h = hashlib.sha256(b"%d lsa2 %d %d" % (self.n, LSA_VOCAB, len(self.lsa.mean)))
        for a in (self.word_df, self.token_df, self.mean, negatives.dense):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr(negatives.ids).encode())
        return "bg-" + h.hexdigest()[:16]

    def to_bytes(self) -> bytes:
        """Serialised (npz, no pickle) for a caller that would rather cache than rebuild."""
        buf = io.BytesIO()
        neg = self.negatives.words
        np.savez_compressed(buf, n=np.int64(self.n), word_df=self.word_df, token_df=self.token_df, mean=self.mean,
                            neg_ids=np.array([str(i) for i in self.negatives.ids]), neg_dense=self.negatives.dense,
                            neg_data=neg.data, neg_indices=neg.indices, neg_indptr=neg.indptr,
                            lsa_cols=self.lsa.cols, lsa_basis=self.lsa.basis, lsa_mean=self.lsa.mean)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Background:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            words = sp.csr_matrix((z["neg_data"], z["neg_indices"], z["neg_indptr"]),
                                  shape=(len(z["neg_indptr"]) - 1, WORD_BUCKETS))
            lsa = Lsa(z["lsa_cols"], z["lsa_basis"], z["lsa_mean"])
            negatives = Candidates(tuple(z["neg_ids"].tolist()), words, z["neg_dense"], "", lsa.project(words))
            return cls(int(z["n"]), z["word_df"], z["token_df"], z["mean"], negatives, lsa)
