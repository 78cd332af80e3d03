"""The migrations build exactly the schema the code describes, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from digest.store.db import DatabaseError, current_revision, head_revision, make_engine, open_engine, upgrade
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
    engine = open_engine(f"sqlite:///{path}", create_folder=True)  # as `digest db upgrade` does
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert path.exists()
    engine.dispose()


def test_a_sqlite_file_in_a_missing_folder_is_refused_not_created(tmp_path):
    """A typo in DIGEST_DATABASE_URL must not start an empty second database (issue 15)."""
    path = tmp_path / "typo" / "digest.db"
    with pytest.raises(DatabaseError, match="does not exist.*digest db upgrade"):
        open_engine(f"sqlite:///{path}")
    assert not path.parent.exists()


def _subscriber_row(email: str) -> dict:
    now = "2026-11-01 00:00:00"
    return {"e": email, "t": f"token-{email}", "n": now}


_INSERT_SUBSCRIBER = text(
    "INSERT INTO subscribers (email, email_key, status, interests, timezone, send_hour, frequency, max_papers,"
    " min_score, send_empty, feed_token, cursor, hard_bounces, created_at, updated_at, status_changed_at)"
    " VALUES (:e, :e, 'active', '', 'UTC', 7, 'daily', 10, 0, false, :t, 0, 0, :n, :n, :n)")
_INSERT_DELIVERY = text(
    "INSERT INTO deliveries (subscriber_id, kind, period, status, items, paper_count, cursor_to, attempts,"
    " next_attempt_at, maybe_delivered, created_at) VALUES (:s, 'digest', 'p', 'sent', '[]', 0, 0, 0, :n, 0, :n)")


def test_round_two_migration_keeps_rows_gives_each_subscriber_a_secret_and_never_reuses_ids(database_url):
    from alembic import command

    from digest.store.db import _migration_lock, alembic_config

    engine = make_engine(database_url)
    with engine.connect() as conn:
        with _migration_lock(conn):
            command.upgrade(alembic_config(conn), "0002")
            conn.commit()
    with engine.begin() as conn:
        for email in ("a@example.org", "b@example.org", "c@example.org"):
            conn.execute(_INSERT_SUBSCRIBER, _subscriber_row(email))
        ids = [row.id for row in conn.execute(text("SELECT id FROM subscribers ORDER BY id"))]
        for sid in ids:
            conn.execute(_INSERT_DELIVERY, {"s": sid, "n": "2026-11-01 00:00:00"})
    assert upgrade(engine) == ("0002", head_revision())
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, link_secret, legacy_links FROM subscribers ORDER BY id")).all()
        assert [r.id for r in rows] == ids and all(r.legacy_links for r in rows)
        assert len({r.link_secret for r in rows}) == 3 and all(len(r.link_secret) >= 32 for r in rows)
        assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar() == 3  # the rebuild cascaded nothing
        conn.execute(text("DELETE FROM subscribers WHERE id = :i"), {"i": ids[-1]})
        with_secret = _INSERT_SUBSCRIBER.text.replace("hard_bounces,", "hard_bounces, link_secret,")
        conn.execute(text(with_secret.replace(":t, 0, 0,", ":t, 0, 0, 'secret',")), _subscriber_row("d@example.org"))
        newest = conn.execute(text("SELECT id, legacy_links FROM subscribers WHERE email = 'd@example.org'")).one()
    assert newest.id > ids[-1] and not newest.legacy_links  # the deleted id was not handed out again
    engine.dispose()
