"""Batch inserts at driver speed.

SQLAlchemy's executemany processes every bound value through several Python layers; for
the 100k-row writes of an ingest or a subscriber import that costs more than the database
itself. Here each column's bind processor is looked up once, values that need none are
taken with one C-level itemgetter, and the rows go to the driver's executemany as plain
tuples (or dicts for named paramstyles), with the SQL compiled by SQLAlchemy.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Callable, Mapping, Sequence

from sqlalchemy import JSON, Connection, Table, insert
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine


def _processor(column_type: TypeEngine, dialect) -> Callable[[object], object] | None:
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or not isinstance(column_type, JSON):
        return process
    # Most JSON values we store are empty lists or maps: serialise those once.
    empty_list, empty_map = process([]), process({})

    def json_value(value: object) -> object:
        if value == [] or value == ():
            return empty_list
        if value == {}:
            return empty_map
        return process(list(value) if isinstance(value, tuple) else value)

    return json_value


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """INSERT every row (all rows have the same keys) in one executemany."""
    if rows:
        types = {name: table.c[name].type for name in rows[0]}
        execute_rows(conn, insert(table), rows, types)


def execute_rows(
    conn: Connection, statement: Executable, rows: Sequence[Mapping[str, object]], types: Mapping[str, TypeEngine],
    *, reuse: bool = False,
) -> None:
    """Run `statement` once per row in one executemany; `types` gives each parameter's type.

    `reuse=True` (for a statement built once, at module level) keeps its compiled form for
    the next call: compiling an UPDATE costs ~0.5 ms, more than writing a few rows.
    """
    if not rows:
        return
    plan = _plan_for(conn, statement, rows[0], types, reuse=reuse)
    conn.exec_driver_sql(plan[1], [_bound(plan, row) for row in rows])


def fetch_raw(conn: Connection, statement: Executable, values: Mapping[str, object],
              types: Mapping[str, TypeEngine]) -> list:
    """Run `statement` (built once: its compiled form is kept) with one set of `values`,
    bound as `execute_rows` binds them, and return its rows as the driver gives them: no
    result processing (JSON stays text, SQLite datetimes stay strings); the caller decodes."""
    plan = _plan_for(conn, statement, values, types, reuse=True)
    return conn.exec_driver_sql(plan[1], _bound(plan, values)).fetchall()


def _plan_for(conn: Connection, statement: Executable, first: Mapping[str, object], types: Mapping[str, TypeEngine],
              *, reuse: bool) -> tuple:
    key = (id(statement), conn.dialect.name, tuple(first))
    plan = _PLANS.get(key) if reuse else None
    if plan is None:
        plan = _plan(conn, statement, first, types)
        if reuse:
            _PLANS[key] = plan
    return plan


def _bound(plan: tuple, row: Mapping[str, object]) -> tuple | dict:
    """`row`'s values as the driver takes them, in the plan's order, bind processors applied."""
    positional, order, processed, take, slots, template = plan[2:]
    values = template.copy()
    for slot, value in zip(slots, take(row)):
        values[slot] = value
    for index, process in processed:
        values[index] = process(values[index])
    return tuple(values) if positional else dict(zip(order, values))


# (statement, sql, positional, order, processed, take, slots, template) of statements run with
# reuse=True, by (statement id, dialect, parameter names); the statement is kept so its id stays its own.
_PLANS: dict[tuple, tuple] = {}


def _plan(conn: Connection, statement: Executable, first: Mapping[str, object], types: Mapping[str, TypeEngine]) -> tuple:
    """How to run `statement` for rows shaped like `first`: its SQL and where each value goes."""
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(first))
    order = list(compiled.positiontup) if compiled.positional else list(compiled.params)
    # Values fixed in the statement itself (e.g. status="sent") are bound parameters too.
    fixed = {name: value for name, value in compiled.params.items() if name not in first}
    for name, value in fixed.items():
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        fixed[name] = process(value) if process else value
    processed = [(i, p) for i, name in enumerate(order) if name not in fixed and (p := _processor(types[name], dialect))]
    take = _getter([name for name in order if name not in fixed])
    slots = [i for i, name in enumerate(order) if name not in fixed]
    template = [fixed.get(name) for name in order]
    return statement, compiled.string, compiled.positional, order, processed, take, slots, template


def _getter(names: list[str]) -> Callable[[Mapping[str, object]], tuple]:
    """A C-level getter returning a tuple for any number of names."""
    if len(names) == 1:
        only = itemgetter(names[0])
        return lambda row: (only(row),)
    return itemgetter(*names)
