"""SQLAlchemy 2 table definitions (Core): the one description of the schema.

Alembic migrations under `db/versions/` create exactly these tables; a test compares the
two so they cannot drift. Core tables (not ORM classes) because every hot path here is a
batch statement over plain rows.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


sources = Table(
    "sources",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("location", Text, nullable=False),
    Column("kind", String(10), nullable=False),  # "url" or "dir"
    Column("format", String(20)),
    Column("interval_seconds", Integer, nullable=False, default=1800),
    Column("paused", Boolean, nullable=False, default=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_checked_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Id, primary_key=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="SET NULL")),
    Column("input", Text, nullable=False),
    Column("format", String(20), nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("listing_day", Date),
    Column("paper_count", Integer, nullable=False),
    Column("new_count", Integer, nullable=False),
    Column("updated_count", Integer, nullable=False),
    Column("unchanged_count", Integer, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
)

papers = Table(
    "papers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("arxiv_id", String(40), unique=True),
    Column("doi", String(255), index=True),
    Column("title", Text, nullable=False),
    Column("title_hash", BigInteger, nullable=False, index=True),
    Column("abstract", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("author_count", Integer),
    Column("organization", String(300)),
    Column("published", Date),
    Column("listing_day", Date),
    Column("upvotes", Integer),
    Column("links", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False, index=True),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime),
    Column("first_snapshot_id", Id, ForeignKey("snapshots.id", ondelete="SET NULL")),
)

sightings = Table(
    "sightings",
    metadata,
    Column("snapshot_id", Id, ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Id, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("upvotes", Integer),
    Index("ix_sightings_paper_id", "paper_id"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200)),
    Column("status", String(12), nullable=False, index=True),
    Column("interests", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("send_hour", SmallInteger, nullable=False),
    Column("frequency", String(6), nullable=False),
    Column("weekday", SmallInteger),
    Column("max_papers", Integer, nullable=False),
    Column("min_score", Float, nullable=False),
    Column("send_empty", Boolean, nullable=False),
    Column("feed_token", String(64), nullable=False, unique=True),
    Column("cursor", BigInteger, nullable=False),
    Column("hard_bounces", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("status_changed_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("paused_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Column("bounced_at", UTCDateTime),
    CheckConstraint("send_hour BETWEEN 0 AND 23", name="send_hour"),
    CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday"),
    CheckConstraint("status IN ('pending', 'active', 'paused', 'unsubscribed', 'bounced')", name="status"),
    CheckConstraint("frequency IN ('daily', 'weekly')", name="frequency"),
)

# The outbox: one row per (subscriber, kind, period) before it is ever an email.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(12), nullable=False),  # "digest" or "confirm"
    Column("period", String(40), nullable=False),  # "2026-11-21", "2026-W47", or a confirm stamp
    Column("status", String(10), nullable=False),  # queued, sending, sent, failed, skipped
    Column("items", JSON, nullable=False),  # [[paper id, score, [matched terms]], ...] best first
    Column("paper_count", Integer, nullable=False),
    Column("cursor_to", BigInteger, nullable=False),  # highest paper id this digest covers
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(80)),
    Column("lease_expires_at", UTCDateTime),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("maybe_delivered", Integer, nullable=False),  # sends whose outcome was unknown
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("subscriber_id", "kind", "period"),
    Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed', 'skipped')", name="status"),
)
