"""Locks that hold across processes: PostgreSQL advisory locks.

SQLite is one host and one writer at a time, so there the lock is always granted.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, text

__all__ = ["try_advisory_lock"]


@contextmanager
def try_advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    """Yields True when this process holds lock `key` now (always on SQLite), False when
    another holds it; never waits. The lock is released on leaving the block."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        acquired = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
