"""The migrations build exactly the schema the code describes, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from digest.store.db import current_revision, head_revision, make_engine, open_engine, upgrade
from digest.store.tables import metadata


def test_migrated_schema_matches_the_tables(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert differences == []


def test_upgrade_is_idempotent(database_url):
    engine = make_engine(database_url)
    first = upgrade(engine)
    second = upgrade(engine)
    assert first[0] is None and first[1] == head_revision()
    assert second == (head_revision(), head_revision())
    engine.dispose()


def test_fresh_sqlite_file_is_created_migrated_wal_and_enforces_foreign_keys(tmp_path):
    path = tmp_path / "deep" / "folder" / "digest.db"
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert path.exists()
    engine.dispose()
