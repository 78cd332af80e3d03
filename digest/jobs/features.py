"""Paper features for relevance ranking: computed in batches at ingest, backfilled by reindex."""

from __future__ import annotations

from typing import Callable, Iterable

from sqlalchemy import Engine

from digest.store import features as feature_store
from digest.store.db import write_transaction
from digest.store.papers import chunks, key_ids, papers_by_id

__all__ = ["index_papers", "index_snapshot_features", "reindex", "stale"]

BATCH = 1000


def index_papers(engine: Engine, paper_ids: Iterable[int]) -> int:
    """Compute and store the features of these papers (in batches); returns how many."""
    from digest import relevance

    done = 0
    for batch in chunks(sorted(set(paper_ids)), BATCH):
        with engine.connect() as conn:
            found = papers_by_id(conn, batch)
        encoded = relevance.featurize_papers([found[i] for i in batch if i in found])
        with write_transaction(engine) as conn:
            feature_store.save_features(conn, dict(zip([i for i in batch if i in found], encoded)),
                                        model=relevance.MODEL)
        done += len(encoded)
    return done


def index_snapshot_features(engine: Engine, diff) -> int:
    """Features of a stored snapshot's new papers and of updated ones whose text changed."""
    with engine.connect() as conn:
        ids = key_ids(conn, [paper.key for paper in diff.new])
    ids += [pid for pid, found in diff.updated.items() if {"title", "abstract", "authors"} & found.keys()]
    return index_papers(engine, ids)


def stale(engine: Engine) -> tuple[str, int]:
    """(the current feature model, how many papers lack its features)."""
    from digest import relevance

    with engine.connect() as conn:
        return relevance.MODEL, feature_store.stale_count(conn, model=relevance.MODEL)


def reindex(engine: Engine, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Compute features for every paper lacking current ones; `progress(done, total)` after each batch."""
    from digest import relevance

    with engine.connect() as conn:
        total = feature_store.stale_count(conn, model=relevance.MODEL)
    done, after = 0, 0
    while True:
        with engine.connect() as conn:
            ids = feature_store.missing(conn, model=relevance.MODEL, after_id=after, limit=BATCH)
        if not ids:
            return done
        done += index_papers(engine, ids)
        after = ids[-1]
        if progress is not None:
            progress(done, total)
