"""A subscriber's digest from their profile and query: learned scores fused with BM25. Pure.

`PersonalRanker` is built once per run over the day's candidates (the keyword index and
the same papers prepared for the learned scorer, row for row) and ranks any number of
subscribers. For subscribers with a fitted profile it ranks every candidate newer than
their cursor by their learned score plus `keyword_boost` (what their query adds); the
query's top-level exclusions stay hard filters and its matched terms are still reported.
Subscribers without a profile are ranked exactly as before (`ranking.rank_subscribers`:
BM25, or the top papers by upvotes with no query).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from digest.errors import QueryError
from digest.models import Paper, RankedPaper, Subscriber
from digest.ranking import (
    Highlighter,
    PaperIndex,
    keyword_scores,
    matched_terms,
    rank_subscribers,
)
from digest.relevance.background import Candidates
from digest.relevance.profile import Profile
from digest.relevance.scoring import KEYWORD_WEIGHT, explain, score_profiles

__all__ = ["PersonalRanker"]


class PersonalRanker:
    """Ranks subscribers over one candidate set: `index.papers[i]` is `candidates` row i."""

    def __init__(self, index: PaperIndex, candidates: Candidates):
        self.index, self.candidates = index, candidates
        if len(self.index.papers) != len(self.candidates):
            raise ValueError(f"{len(self.index.papers)} indexed papers but {len(self.candidates)} candidates")
        self._ids = np.array([p.id if p.id is not None else 2**62 for p in self.index.papers], dtype=np.int64)
        self._highlighter = Highlighter()

    def rank(self, subscribers: Sequence[Subscriber], profiles: Mapping[int, Profile],
             liked_papers: Mapping[int, Paper], *, snippets: bool = False,
             voted: Mapping[int, Iterable[int]] | None = None) -> Iterator[tuple[Subscriber, list[RankedPaper]]]:
        """Each subscriber's picks, in input order. `profiles` by subscriber id (those with
        likes), `liked_papers` by paper id (to name the paper a pick resembles), `voted` the
        paper ids each subscriber already judged (never offered to them again)."""
        voted = voted or {}
        personal = [s for s in subscribers if s.id in profiles]
        learned = dict(zip((s.id for s in personal), score_profiles([profiles[s.id] for s in personal],
                                                                    self.candidates))) if personal else {}
        plain = iter(rank_subscribers(self.index, [s for s in subscribers if s.id not in profiles],
                                      snippets=snippets))
        for subscriber in subscribers:
            if subscriber.id in learned:
                picked = self._personal(subscriber, profiles[subscriber.id], learned[subscriber.id], liked_papers,
                                        voted.get(subscriber.id, ()))
                if snippets:
                    for item in picked:
                        item.snippet = self._highlighter.snippet(item.paper, item.matched)
                yield subscriber, picked
            else:
                yield next(plain)

    def _personal(self, subscriber: Subscriber, profile: Profile, learned: np.ndarray,
                  liked_papers: Mapping[int, Paper], voted: Iterable[int]) -> list[RankedPaper]:
        keyword = self._keyword(subscriber)
        eligible = self._ids > subscriber.cursor
        if judged := list(voted):
            eligible &= ~np.isin(self._ids, np.fromiter(judged, dtype=np.int64))
        if keyword is not None:
            eligible &= ~keyword.excluded
        kw = keyword.scores if keyword is not None and keyword.has_terms else None
        boost = keyword_boost(learned, kw)
        final = learned + boost
        rows = _best(final, eligible, subscriber.max_papers)
        reasons = explain(profile, self.candidates, rows)
        picked = []
        for row, why in zip(rows, reasons):
            driven = why.by_similarity and learned[row] >= boost[row] and why.liked_id.isdigit()
            because = liked_papers.get(int(why.liked_id)) if driven else None
            matched = matched_terms(self.index, subscriber.interests, int(row)) if kw is not None else ()
            picked.append(RankedPaper(self.index.papers[row], round(float(final[row]), 4), matched, "", because))
        return picked

    def _keyword(self, subscriber: Subscriber):
        if not (subscriber.interests or "").strip():
            return None
        try:
            return keyword_scores(self.index, subscriber.interests)
        except QueryError:  # a stored query that no longer parses: the likes alone decide
            return None


def keyword_boost(learned: np.ndarray, keyword: np.ndarray | None) -> np.ndarray:
    """What a query match adds to a paper's learned score (0 without a query).

    The day's best BM25 match could add KEYWORD_WEIGHT standard deviations; each match adds
    that share of its BM25 score, gated by how plausible the paper is for this reader: times
    sigmoid(2 x learned), so 1/2 for a paper the likes are neutral about, nearly all of it
    for one that resembles them, little for one that does not. A word match alone can no
    longer lift a paper the reader's likes speak against above one they resemble (the
    false friend "... Co-reference Normalization" for `"token pooling" OR normalization`),
    while the query still brings its topics into a digest the likes do not cover.
    """
    if keyword is None:
        return np.zeros_like(learned)
    top = float(keyword.max()) if keyword.size else 0.0
    if top <= 0:
        return np.zeros_like(learned)
    gate = 1.0 / (1.0 + np.exp(-2.0 * learned))
    return (KEYWORD_WEIGHT * (keyword / top) * gate).astype(np.float32)


def _best(final: np.ndarray, eligible: np.ndarray, limit: int) -> np.ndarray:
    """Rows of the `limit` best eligible scores, best first (ties: lower row first)."""
    rows = np.flatnonzero(eligible)
    if not len(rows) or limit <= 0:
        return rows[:0]
    scores = final[rows]
    if len(rows) > limit:
        keep = np.argpartition(-scores, limit - 1)[:limit]
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))
    return rows[order]


def liked_ids(profiles: Iterable[Profile]) -> set[int]:
    """Paper ids named by the profiles' likes (to load their titles for explanations)."""
    return {int(i) for p in profiles for i in p.liked_ids if str(i).isdigit()}
