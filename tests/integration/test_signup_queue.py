"""The sign-up queue on each backend: one request the database refuses is set aside with a
warning, and the sign-ups queued with it and behind it still happen (before, its error rolled
back the whole batch on every run: nobody could sign up again, /healthz stayed red)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import func, select, text

from digest.jobs.signups import process_signups, queue_signup
from digest.store.tables import signup_requests, subscribers
from digest.subscribers import SubscriberSpec

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
REFUSED = "refused@example.org"


def refuse_one_address(engine) -> None:
    """A real database refusing one row (as PostgreSQL refuses a NUL in text): a trigger."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON subscribers WHEN NEW.email = '{REFUSED}' "
                              "BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"))
        else:
            conn.execute(text(f"ALTER TABLE subscribers ADD CONSTRAINT refuse CHECK (email <> '{REFUSED}')"))


def test_a_sign_up_the_database_refuses_does_not_block_the_queue(engine, caplog):
    refuse_one_address(engine)
    for email in ("first@example.org", REFUSED, "third@example.org"):
        queue_signup(engine, SubscriberSpec(email=email), now=NOW)
    with caplog.at_level(logging.WARNING, logger="digest"):
        assert process_signups(engine, now=NOW) == 3
    with engine.connect() as conn:
        emails = set(conn.execute(select(subscribers.c.email)).scalars())
        queued = conn.execute(select(func.count()).select_from(signup_requests)).scalar_one()
    assert emails == {"first@example.org", "third@example.org"} and queued == 0
    assert any("database refused" in r.getMessage() for r in caplog.records)
    queue_signup(engine, SubscriberSpec(email="later@example.org"), now=NOW)
    assert process_signups(engine, now=NOW) == 1
