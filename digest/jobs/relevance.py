"""Relevance in the pipeline: paper features, the background, profiles fitted when labels change.

What the planner, the feeds, `digest rank` and `digest preview` share:

- `ensure_features`: stored features for papers (computed at ingest; any missing are computed
  and stored here, so an old database works before `digest papers reindex`).
- `load_background`: corpus statistics from the oldest papers with features (see
  `relevance.background`); cached per process while the store does not change under it.
- `profiles_for`: each subscriber's fitted profile, read from `profile_models` and refit only
  when their likes, dislikes or the background changed.
- `personal_ranker`: one `PersonalRanker` over a run's candidates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from digest.enums import Vote
from digest.jobs.common import utcnow
from digest.models import Paper
from digest.ranking import PaperIndex
from digest.store import features as feature_store
from digest.store import votes as vote_store
from digest.store.db import write_transaction
from digest.store.papers import papers_by_id
from digest.store.tables import paper_features

log = logging.getLogger("digest.relevance")

__all__ = ["AdHocProfile", "RunRanking", "ensure_features", "load_background", "personal_ranker", "profiles_for",
           "refresh_profiles"]

_background_cache: dict[tuple, object] = {}
_background_lock = threading.Lock()


def ensure_features(engine: Engine, papers: Sequence[Paper]) -> dict[int, bytes]:
    """paper id -> stored feature bytes for `papers`; missing ones are computed and stored."""
    from digest import relevance as rel

    ids = [p.id for p in papers if p.id is not None]
    with engine.connect() as conn:
        found = feature_store.features_of(conn, ids, model=rel.MODEL)
    missing = [p for p in papers if p.id is not None and p.id not in found]
    if missing:
        blobs = dict(zip((p.id for p in missing), rel.featurize_papers(missing)))
        with write_transaction(engine) as conn:
            feature_store.save_features(conn, blobs, model=rel.MODEL)
        found.update(blobs)
    return found


def _background_ids(conn: Connection, size: int) -> list[int]:
    from digest import relevance as rel

    query = (select(paper_features.c.paper_id).where(paper_features.c.model == rel.MODEL)
             .order_by(paper_features.c.paper_id).limit(size))
    return list(conn.execute(query).scalars())


def load_background(engine: Engine):
    """The `relevance.Background` of this database, or None when no paper has features yet."""
    from digest import relevance as rel
    from digest.jobs.features import index_papers

    with engine.connect() as conn:
        missing = feature_store.missing_among_first(conn, model=rel.MODEL, count=rel.BACKGROUND_SIZE)
    if missing:  # the first time relevance is needed (or after a model change): a few seconds
        index_papers(engine, missing)
    with engine.connect() as conn:
        ids = _background_ids(conn, rel.BACKGROUND_SIZE)
        if not ids:
            return None
        key = (str(engine.url), rel.MODEL, len(ids), ids[0], ids[-1])
        with _background_lock:
            if key in _background_cache:
                return _background_cache[key]
        blobs = feature_store.features_of(conn, ids, model=rel.MODEL)
    background = rel.Background.build([rel.decode(blobs[i]) for i in ids], ids=ids)
    with _background_lock:
        _background_cache.clear()  # one database per process in practice: keep the newest only
        _background_cache[key] = background
    return background


def _prepared(engine: Engine, background, ids: Sequence[int], papers: Mapping[int, Paper]):
    from digest import relevance as rel

    blobs = ensure_features(engine, [papers[i] for i in ids if i in papers])
    kept = [i for i in ids if i in blobs]
    return background.prepare([rel.decode(blobs[i]) for i in kept], ids=kept)


def _fit(engine: Engine, background, labels: Mapping[int, Vote]):
    """A fitted profile for these labels (likes most recent last is not known here: by id)."""
    from digest import relevance as rel

    liked = sorted(pid for pid, vote in labels.items() if vote == Vote.LIKE)
    disliked = sorted(pid for pid, vote in labels.items() if vote == Vote.DISLIKE)
    with engine.connect() as conn:
        papers = papers_by_id(conn, liked + disliked)
    liked_c = _prepared(engine, background, liked, papers)
    disliked_c = _prepared(engine, background, disliked, papers) if disliked else None
    return rel.fit_profile(background, liked_c, disliked=disliked_c)


def _digest_of(labels: Mapping[int, Vote], background) -> str:
    from digest import relevance as rel

    liked = [pid for pid, vote in labels.items() if vote == Vote.LIKE]
    disliked = [pid for pid, vote in labels.items() if vote == Vote.DISLIKE]
    return rel.labels_digest(liked, disliked, background=background.version)


def profiles_for(engine: Engine, subscriber_ids: Iterable[int], background, *,
                 now: datetime | None = None, save: bool = True,
                 labels: Mapping[int, Mapping[int, Vote]] | None = None) -> dict:
    """subscriber id -> fitted `relevance.Profile` for those with at least one like.

    Stored profiles are reused while their labels digest matches; others are fitted now
    (and stored unless `save` is False). A subscriber with only dislikes has no profile.
    `labels` (subscriber id -> their votes, as `votes.labels_of_many` reads them) saves
    reading them again."""
    from digest import relevance as rel

    ids = list(subscriber_ids)
    with engine.connect() as conn:
        if labels is None:
            labels = vote_store.labels_of_many(conn, ids)
        stored = vote_store.models_of(conn, [sid for sid, found in labels.items() if Vote.LIKE in found.values()])
    profiles, fitted = {}, {}
    for sid, found in labels.items():
        if Vote.LIKE not in found.values():
            continue
        digest = _digest_of(found, background)
        old = stored.get(sid)
        if old is not None and old.labels_digest == digest and old.model == rel.MODEL:
            try:
                profiles[sid] = rel.Profile.from_bytes(old.data)
                continue
            except ValueError as err:
                log.warning("subscriber %s: %s", sid, err)
        profile = _fit(engine, background, found)
        if profile is not None:
            profiles[sid] = profile
            fitted[sid] = vote_store.StoredModel(digest, rel.MODEL, profile.to_bytes())
    if fitted and save:
        with write_transaction(engine) as conn:
            for sid, model in fitted.items():
                vote_store.save_model(conn, sid, model, now=now or utcnow())
    return profiles


def refresh_profiles(engine: Engine, subscriber_ids: Iterable[int]) -> int:
    """Fit (now, not at the next digest) the profiles whose labels changed; returns how many exist."""
    background = load_background(engine)
    return 0 if background is None else len(profiles_for(engine, subscriber_ids, background))


def personal_ranker(engine: Engine, index: PaperIndex, background):
    """A `PersonalRanker` over the index's papers (their features ensured), or None without a background."""
    from digest.relevance.ranker import PersonalRanker

    if background is None:
        return None
    papers = {p.id: p for p in index.papers if p.id is not None}
    if len(papers) != len(index.papers):
        raise ValueError("every candidate paper must be stored (have an id) to be ranked by relevance")
    return PersonalRanker(index, _prepared(engine, background, [p.id for p in index.papers], papers))


class AdHocProfile:
    """Likes and dislikes given on the command line (`digest rank --like ...`), never stored."""

    def __init__(self, liked: Sequence[int], disliked: Sequence[int] = ()):
        self.labels = {pid: Vote.LIKE for pid in liked} | {pid: Vote.DISLIKE for pid in disliked}

    def fit(self, engine: Engine, background):
        return None if background is None or Vote.LIKE not in self.labels.values() else _fit(
            engine, background, self.labels)


class _IdOnly(dict):
    """Liked papers known by id only: the planner stores the id, the renderer loads the paper."""

    def get(self, key, default=None):
        return Paper(title="", id=key)


class RunRanking:
    """Ranks batches of subscribers over one candidate index, with their profiles when they have
    likes (fitted or refitted as needed) and exactly as before when they have none.

    The background and the candidates' learned representation are built on the first batch
    that has a profile: a run where nobody has likes pays nothing for relevance."""

    def __init__(self, engine: Engine, index: PaperIndex, *, load_liked: bool = False, now: datetime | None = None):
        self.engine, self.index, self.load_liked, self.now = engine, index, load_liked, now
        self._background = None
        self._ranker = None
        self._ready = False

    def rank(self, subscribers: Sequence, *, snippets: bool = False, extra: Mapping[int, object] | None = None):
        """(subscriber, ranked papers) per subscriber, in order. `extra` adds profiles not stored
        (`digest rank --like`): subscriber id -> AdHocProfile."""
        from digest.ranking import rank_subscribers

        ids = [s.id for s in subscribers if s.id is not None]
        labels: dict[int, dict[int, Vote]] = {}
        profiles = self._profiles(ids, extra or {}, labels)
        if not profiles:
            yield from rank_subscribers(self.index, subscribers, snippets=snippets)
            return
        if self._ranker is None:
            self._ranker = personal_ranker(self.engine, self.index, self._background)
        liked = self._liked_papers(profiles) if self.load_liked else _IdOnly()
        voted = {sid: set(found) for sid, found in labels.items()}
        for sid, adhoc in (extra or {}).items():
            voted[sid] = set(adhoc.labels)
        yield from self._ranker.rank(subscribers, profiles, liked, snippets=snippets, voted=voted)

    def _profiles(self, ids: Sequence[int], extra: Mapping[int, object], labels: dict) -> dict:
        """The batch's profiles; fills `labels` with every vote of the batch (read once)."""
        with self.engine.connect() as conn:
            anyone = bool(extra) or vote_store.any_likes(conn, ids)
            if anyone:
                labels.update(vote_store.labels_of_many(conn, ids))
        if not anyone:
            return {}
        if not self._ready:
            self._background, self._ready = load_background(self.engine), True
        if self._background is None:
            return {}
        profiles = profiles_for(self.engine, ids, self._background, now=self.now, labels=labels)
        for sid, adhoc in extra.items():
            fitted = adhoc.fit(self.engine, self._background)
            if fitted is not None:
                profiles[sid] = fitted
        return profiles

    def _liked_papers(self, profiles: Mapping[int, object]) -> dict[int, Paper]:
        from digest.relevance.ranker import liked_ids

        with self.engine.connect() as conn:
            return papers_by_id(conn, liked_ids(profiles.values()))
