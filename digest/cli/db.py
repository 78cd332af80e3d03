"""`digest db`: schema migrations."""

from __future__ import annotations

import typer

from digest.cli.common import console, handle_errors, print_json, runtime
from digest.store.db import current_revision, head_revision, make_engine, upgrade

db_app = typer.Typer(help="Database schema: create and migrate.", no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the revisions as JSON."),
) -> None:
    """Create or migrate the database to the newest schema. Safe to run any number of times.

    The only command that creates a SQLite file's missing folder (the others refuse, so a
    mistyped path never starts an empty database).

    Example:  DIGEST_DATABASE_URL=postgresql+psycopg://digest@db/digest digest db upgrade
    """
    engine = make_engine(runtime(ctx).settings.database_url, create_folder=True)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if as_json:
        print_json({"before": before, "after": after, "changed": before != after})
    elif before == after:
        console.print(f"database is up to date (revision {after})", soft_wrap=True)
    else:
        console.print(f"database migrated from {before or 'empty'} to revision {after}", soft_wrap=True)


@db_app.command("status")
@handle_errors
def db_status(ctx: typer.Context) -> None:
    """Show the database URL (password hidden) and its schema revision.

    Example:  digest db status
    """
    engine = make_engine(runtime(ctx).settings.database_url)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head}: run `digest db upgrade`)"
    console.print(f"{engine.url!r}: revision {revision or 'none'}, {state}", highlight=False, soft_wrap=True)
