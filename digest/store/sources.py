"""Sources: where snapshots come from (a URL polled, a folder watched, or a manual name)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from digest.store.db import write_transaction
from digest.store.tables import sources


def ensure_source(engine: Engine, name: str, *, location: str = "", kind: str = "manual") -> int:
    """The id of the source called `name`, created as a manual source if it does not exist."""
    with engine.connect() as conn:
        found = conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar()
    if found is not None:
        return found
    try:
        with write_transaction(engine) as conn:
            return conn.execute(
                insert(sources).returning(sources.c.id),
                {"name": name, "location": location, "kind": kind, "interval_seconds": 0, "paused": True,
                 "created_at": datetime.now(timezone.utc)},
            ).scalar_one()
    except IntegrityError:
        with engine.connect() as conn:
            return conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar_one()
