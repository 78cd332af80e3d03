"""Batch inserts at driver speed.

SQLAlchemy's executemany processes every bound value through several Python layers; for
the 100k-row writes of an ingest or a subscriber import that costs more than the database
itself. Here each column's bind processor is looked up once and the rows go to the
driver's executemany as plain tuples, with the SQL compiled by SQLAlchemy for the dialect.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from sqlalchemy import Connection, Table, insert


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """INSERT every row (all rows have the same keys) in one executemany."""
    if not rows:
        return
    columns = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=columns)
    processors = {
        name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    }
    if compiled.positional:
        order = [name for name in compiled.positiontup]
        plan = [(name, processors[name]) for name in order]
        params: list = [tuple(p(row[n]) if p else row[n] for n, p in plan) for row in rows]
    else:
        plan = list(processors.items())
        params = [{n: (p(row[n]) if p else row[n]) for n, p in plan} for row in rows]
    conn.exec_driver_sql(compiled.string, params)
