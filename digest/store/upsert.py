"""INSERT ... ON CONFLICT DO NOTHING for the connection's dialect, imported only when used.

`sqlalchemy.dialects.postgresql` imports every PostgreSQL driver's dialect module (asyncpg,
psycopg, pg8000...): ~50 ms of a SQLite run's start-up for nothing. The engine has already
loaded its own dialect's package, so importing it here costs nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table


def insert_ignoring_conflicts(conn: Connection, table: Table, index_elements: list[str]):
    """An INSERT into `table` that skips rows clashing on `index_elements` (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=index_elements)
