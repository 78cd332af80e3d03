"""Setting up a daily-run benchmark (timed apart from the run): subscribers, and for
`--profiles` a library of older papers, 10 likes each and their fitted profiles.

Likes come in `like_sets` distinct sets of 10 topical papers (subscriber i has set
i % like_sets), so setup fits one profile per set, not one per subscriber (a fit is
~50-90 ms: 100,000 of them would take hours), and stores a copy for each subscriber with
that set, under the labels digest the planner checks, so the timed run refits nothing.
Every subscriber still has their own stored profile, read and scored on its own.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from itertools import islice

from sqlalchemy import insert, select

from digest.enums import Vote, VoteOrigin
from digest.jobs import ingest_bytes
from digest.jobs.relevance import load_background, profiles_for
from digest.store.db import write_transaction
from digest.store.subscribers import new_row
from digest.store.tables import paper_votes, papers, profile_models, subscribers
from digest.subscribers import SubscriberSpec
from tests.benchmarks.workload import Day, planned_at, topic_words

LIBRARY_PAPERS = 5_000  # >= the relevance background, so the day's papers do not change it
LIKES = 10
BATCH = 10_000


def create_subscribers(engine, day: Day, *, cursor: int, profiles: bool) -> None:
    """The day's subscribers, BATCH at a time; with `profiles` every second one has no query."""
    now = planned_at()
    people = day.subscriber_rows()
    number = 0
    while batch := list(islice(people, BATCH)):
        rows = []
        for fields in batch:
            if profiles and number % 2:
                fields = {**fields, "interests": ""}
            rows.append(new_row(SubscriberSpec(**fields), now=now, cursor=cursor))
            number += 1
        with write_transaction(engine) as conn:
            conn.execute(insert(subscribers), rows)


def ingest_library(engine, seed: int) -> int:
    """Older papers to like (a month before the day); returns the highest paper id."""
    library = Day(papers=LIBRARY_PAPERS, subscribers=0, seed=seed + 100, day=date(2026, 10, 1))
    ingest_bytes(engine, library.papers_json(), input="library.json")
    with engine.connect() as conn:
        return max(conn.execute(select(papers.c.id)).scalars())


def like_sets(engine, count: int, seed: int) -> list[list[int]]:
    """`count` sets of LIKES library papers, each around one topic word."""
    with engine.connect() as conn:
        rows = list(conn.execute(select(papers.c.id, papers.c.title, papers.c.abstract)))
    by_word: dict[str, list[int]] = defaultdict(list)
    topics = topic_words()
    wanted = set(topics)
    for pid, title, abstract in rows:
        for word in wanted & set(f"{title} {abstract}".lower().split()):
            by_word[word].append(pid)
    rng = random.Random(seed)
    every = [pid for pid, _, _ in rows]
    sets = []
    for number in range(count):
        pool = by_word.get(topics[number % len(topics)], [])
        sets.append(rng.sample(pool, LIKES) if len(pool) >= LIKES else rng.sample(every, LIKES))
    return sets


def add_likes_and_profiles(engine, subscriber_count: int, sets: int, seed: int) -> int:
    """LIKES likes per subscriber and a stored fitted profile each; returns the profiles fitted."""
    chosen = like_sets(engine, sets, seed)
    with engine.connect() as conn:
        ids = list(conn.execute(select(subscribers.c.id).order_by(subscribers.c.id)).scalars())
    now = planned_at()
    for start in range(0, len(ids), BATCH):
        rows = [{"subscriber_id": sid, "paper_id": pid, "vote": int(Vote.LIKE), "origin": str(VoteOrigin.CLI),
                 "created_at": now} for n, sid in enumerate(ids[start:start + BATCH], start)
                for pid in chosen[n % sets]]
        with write_transaction(engine) as conn:
            conn.execute(insert(paper_votes), rows)
    background = load_background(engine)  # computes the library's features the first time
    profiles_for(engine, ids[:sets], background, now=now)  # one fit per like set, stored
    with engine.connect() as conn:
        fitted = {row.subscriber_id: row for row in conn.execute(select(profile_models)
                                                                  .where(profile_models.c.subscriber_id.in_(ids[:sets])))}
    for start in range(sets, len(ids), BATCH // 4):
        rows = [{"subscriber_id": sid, "labels_digest": fitted[ids[n % sets]].labels_digest,
                 "model": fitted[ids[n % sets]].model, "data": fitted[ids[n % sets]].data, "fitted_at": now}
                for n, sid in enumerate(ids[start:start + BATCH // 4], start)]
        with write_transaction(engine) as conn:
            conn.execute(insert(profile_models), rows)
    return len(fitted)
