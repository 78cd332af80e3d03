"""Sources: where snapshots come from (a URL polled, a folder watched, or a manual name).

`ensure_source` is the one convenience that takes an Engine (it is called once per
`digest ingest --source`). Every other function takes the caller's Connection and never
commits, like the rest of `digest.store`, so a caller can put several in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Sequence

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.errors import DigestError, NotFoundError
from digest.store.db import write_transaction
from digest.store.tables import snapshots, sources

# Kinds a poller reads; "manual" sources only label snapshots given to `digest ingest`.
POLLED_KINDS = ("url", "dir")
# last_error is shown in a table cell: one line, bounded.
MAX_ERROR_CHARS = 500


class DuplicateSource(DigestError):
    """A source with that name already exists."""


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


def add(
    conn: Connection,
    *,
    name: str,
    location: str,
    kind: str,
    format: str | None,
    interval_seconds: int,
    now: datetime,
) -> Row:
    """Insert one source (unpaused, never checked); raises DuplicateSource if the name is taken."""
    if find(conn, name) is not None:
        raise DuplicateSource(f"a source named {name!r} already exists (see: digest sources list)")
    row = {
        "name": name, "location": location, "kind": kind, "format": format,
        "interval_seconds": interval_seconds, "paused": False, "created_at": now,
    }
    try:
        # A savepoint, so losing a race to a concurrent add leaves the caller's transaction usable.
        with conn.begin_nested():
            conn.execute(insert(sources), row)
    except IntegrityError:
        raise DuplicateSource(f"a source named {name!r} already exists") from None
    return find(conn, name)


def find(conn: Connection, name: str) -> Row | None:
    return conn.execute(select(sources).where(sources.c.name == name)).first()


def get(conn: Connection, name: str) -> Row:
    """The source called `name`; raises NotFoundError (a user error) when there is none."""
    row = find(conn, name)
    if row is None:
        raise NotFoundError(f"no source named {name!r} (see: digest sources list)")
    return row


def by_id(conn: Connection, source_id: int) -> Row | None:
    return conn.execute(select(sources).where(sources.c.id == source_id)).first()


def listing(conn: Connection, *, polled_only: bool = False, unpaused_only: bool = False) -> list[Row]:
    """Every source by name; optionally only the polled kinds and/or the unpaused ones."""
    query = select(sources).order_by(sources.c.name)
    if polled_only:
        query = query.where(sources.c.kind.in_(POLLED_KINDS))
    if unpaused_only:
        query = query.where(sources.c.paused.is_(False))
    return list(conn.execute(query).all())


def remove(conn: Connection, source_id: int) -> None:
    """Delete a source. Its snapshots stay (their source_id becomes NULL by the foreign key)."""
    conn.execute(delete(sources).where(sources.c.id == source_id))


def snapshot_count(conn: Connection, source_id: int) -> int:
    """How many stored snapshots came from this source."""
    return conn.execute(select(func.count()).select_from(snapshots).where(snapshots.c.source_id == source_id)).scalar_one()


def set_paused(conn: Connection, source_ids: Sequence[int], paused: bool) -> None:
    """Pause or resume sources (one statement for any number of them)."""
    if source_ids:
        conn.execute(update(sources).where(sources.c.id.in_(list(source_ids))).values(paused=paused))


def one_line(message: str) -> str:
    """`message` as a single bounded line, fit for last_error and a table cell."""
    line = " ".join(message.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def record_check(
    conn: Connection,
    source_id: int,
    *,
    now: datetime,
    succeeded: bool,
    error: str | None,
    validators: tuple[str | None, str | None] | None = None,
) -> None:
    """Store the outcome of one poll.

    last_checked_at is always `now`; last_success_at becomes `now` when the poll
    `succeeded` (it ingested something, got a 304, or had nothing to do); last_error is
    the latest poll's problem as one line, or NULL when it had none (a poll can succeed
    with an error: one bad file beside good ones). `validators` (ETag,
    Last-Modified) replace the stored ones only when given: a caller passes them only
    after the response was ingested, so a failed ingest is fetched in full next time.
    """
    values: dict[str, object] = {"last_checked_at": now, "last_error": one_line(error) if error else None}
    if succeeded:
        values["last_success_at"] = now
    if validators is not None:
        values["etag"], values["last_modified"] = validators
    conn.execute(update(sources).where(sources.c.id == source_id).values(**values))


def is_due(row: Row, now: datetime) -> bool:
    """An unpaused polled source never checked, or last checked at least its interval ago."""
    if row.paused or row.kind not in POLLED_KINDS:
        return False
    if row.last_checked_at is None:
        return True
    return row.last_checked_at + timedelta(seconds=row.interval_seconds) <= now


def due_sources(conn: Connection, *, now: datetime) -> list[Row]:
    """Sources due for a poll at `now` (see is_due), by name.

    The interval test runs in Python: date arithmetic differs between SQLite and
    PostgreSQL, and there are a handful of sources, not thousands.
    """
    return [row for row in listing(conn, polled_only=True, unpaused_only=True) if is_due(row, now)]


def claim(conn: Connection, source_id: int, *, seen_checked_at: datetime | None, now: datetime) -> bool:
    """Mark a due source as being checked at `now`, unless another poller did so first.

    Compare-and-set on last_checked_at: of two schedulers that both saw the source due,
    only one gets True, so a source is not fetched twice for one interval.
    """
    column = sources.c.last_checked_at
    unchanged = column.is_(None) if seen_checked_at is None else column == seen_checked_at
    result = conn.execute(update(sources).where(sources.c.id == source_id, unchanged).values(last_checked_at=now))
    return result.rowcount == 1
