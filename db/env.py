"""Alembic environment: migrations run on the connection the app hands over.

`digest db upgrade` (and the automatic first-use migration) pass a live connection in
`config.attributes["connection"]`; plain `alembic` runs fall back to DIGEST_DATABASE_URL.
"""

from alembic import context

from digest.store.tables import metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    from digest.config import load_settings
    from digest.store.db import make_engine

    engine = make_engine(load_settings().database_url)
    with engine.connect() as fresh:
        run_migrations(fresh)
        fresh.commit()


main()
