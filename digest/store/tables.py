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
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

from digest.enums import DeliveryStatus, Frequency, MailEventKind, SubscriberStatus, VoteOrigin, sql_in

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
    # Stored from a subscriber's imported library, not from a listing: it shapes their
    # profile but is never delivered as a new paper (a later listing that carries it clears this).
    Column("library_only", Boolean, nullable=False, server_default=false()),
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
    # Random, per subscriber: every signed link carries it beside the id, so a link made for
    # one person can never act on another, even one who later got a recycled row.
    Column("link_secret", String(64), nullable=False),
    # Rows that existed before links were bound to link_secret: their older id-only links
    # still verify (ids are never reused since then, so this is safe). False for new rows.
    Column("legacy_links", Boolean, nullable=False, server_default=false()),
    CheckConstraint("send_hour BETWEEN 0 AND 23", name="send_hour"),
    CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday"),
    CheckConstraint(sql_in("status", SubscriberStatus), name="status"),
    CheckConstraint(sql_in("frequency", Frequency), name="frequency"),
    sqlite_autoincrement=True,  # ids are never reused: a deleted subscriber's links die with them
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
    # The claim walks this in order and stops after its batch (see outbox._due); with `id`
    # last, PostgreSQL needs no sort among rows due at the same instant (SQLite's indexes
    # end with the rowid anyway).
    Index("ix_deliveries_due", "status", "next_attempt_at", "id"),
    CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
    sqlite_autoincrement=True,  # Message-IDs derive from the row id: never reused
)

# ---- round two: relevance, security, mailbox ------------------------------------------------

# A paper's stored representation for relevance ranking, computed at ingest (batched).
# `model` names the featuriser and its version: rows of another model are stale and reindexed.
paper_features = Table(
    "paper_features",
    metadata,
    Column("paper_id", Id, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Likes (+1) and dislikes (-1): with the optional query, a subscriber's profile.
paper_votes = Table(
    "paper_votes",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("paper_id", Id, ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("vote", SmallInteger, nullable=False),
    Column("origin", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_paper_votes_paper_id", "paper_id"),
    CheckConstraint("vote IN (-1, 1)", name="vote"),
    CheckConstraint(sql_in("origin", VoteOrigin), name="origin"),
)

# A subscriber's fitted scorer, refit only when their labels change (`labels_digest`).
profile_models = Table(
    "profile_models",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("labels_digest", String(64), nullable=False),
    Column("model", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("fitted_at", UTCDateTime, nullable=False),
)

# Rate-limited actions (sign-ups per network, confirmation mails per address, manage POSTs),
# kept in the database so limits hold across processes, hosts and restarts.
rate_events = Table(
    "rate_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("bucket", String(20), nullable=False),
    Column("key", String(320), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_rate_events_bucket_key_at", "bucket", "key", "at"),
    sqlite_autoincrement=True,
)

# What the service read in its mailbox: DSN bounces, ARF complaints, mailto unsubscribes.
# `report_key` is the SHA-256 (hex) of the incoming message's Message-ID, or of its bytes when it
# has none: processing the same message again changes nothing.
mail_events = Table(
    "mail_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("report_key", String(64), nullable=False, unique=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("delivery_id", Id, ForeignKey("deliveries.id", ondelete="SET NULL")),
    Column("recipient", String(320)),
    Column("status_code", String(16)),  # the DSN's enhanced status, e.g. "5.1.1"
    Column("detail", Text),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    CheckConstraint(sql_in("kind", MailEventKind), name="kind"),
    sqlite_autoincrement=True,
)

# Web sign-ups waiting to be handled: `POST /subscribe` only ever inserts one of these, so a
# new and a known address look the same from outside (timing, counters); the web app's
# background task applies them (jobs.signups.process_signups) and deletes them.
signup_requests = Table(
    "signup_requests",
    metadata,
    Column("id", Id, primary_key=True),
    Column("fields", JSON, nullable=False),  # the validated SubscriberSpec fields
    Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
