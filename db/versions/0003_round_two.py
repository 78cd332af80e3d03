"""round two: links bound to a per-subscriber secret, ids never reused, relevance and mailbox tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:30:00

Existing subscribers get a random `link_secret` and `legacy_links = true`, so the id-only
links already in their inboxes keep working (safe from here on: ids are never reused).
SQLite tables whose ids name something outside the database (subscribers: links;
deliveries: Message-IDs) are rebuilt with AUTOINCREMENT; `store.db.upgrade` turns SQLite's
foreign keys off around migrations so rebuilding a parent table cascades nothing.
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.add_column('papers', sa.Column('library_only', sa.Boolean(), server_default=sa.false(), nullable=False))
    _subscribers(sqlite)
    if sqlite:
        with op.batch_alter_table('deliveries', recreate='always', table_kwargs={'sqlite_autoincrement': True}):
            pass
    _new_tables()


def _subscribers(sqlite: bool) -> None:
    op.add_column('subscribers', sa.Column('link_secret', sa.String(length=64), nullable=True))
    op.add_column('subscribers', sa.Column('legacy_links', sa.Boolean(), server_default=sa.false(), nullable=False))
    bind = op.get_bind()
    table = sa.table('subscribers', sa.column('id', Id), sa.column('link_secret', sa.String),
                     sa.column('legacy_links', sa.Boolean))
    ids = [row.id for row in bind.execute(sa.select(table.c.id))]
    if ids:
        bind.execute(sa.update(table).where(table.c.id == sa.bindparam('sid')).values(
            link_secret=sa.bindparam('secret'), legacy_links=True),
            [{'sid': sid, 'secret': secrets.token_urlsafe(24)} for sid in ids])
    kwargs = {'recreate': 'always', 'table_kwargs': {'sqlite_autoincrement': True}} if sqlite else {}
    with op.batch_alter_table('subscribers', **kwargs) as batch_op:
        batch_op.alter_column('link_secret', existing_type=sa.String(length=64), nullable=False)


def _new_tables() -> None:
    op.create_table('paper_features',
    sa.Column('paper_id', Id, nullable=False),
    sa.Column('model', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], name=op.f('fk_paper_features_paper_id_papers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('paper_id', name=op.f('pk_paper_features'))
    )
    op.create_table('paper_votes',
    sa.Column('subscriber_id', Id, nullable=False),
    sa.Column('paper_id', Id, nullable=False),
    sa.Column('vote', sa.SmallInteger(), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('vote IN (-1, 1)', name=op.f('ck_paper_votes_vote')),
    sa.CheckConstraint("origin IN ('cli', 'email', 'feed', 'web', 'library')", name=op.f('ck_paper_votes_origin')),
    sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], name=op.f('fk_paper_votes_paper_id_papers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_paper_votes_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subscriber_id', 'paper_id', name=op.f('pk_paper_votes'))
    )
    op.create_index('ix_paper_votes_paper_id', 'paper_votes', ['paper_id'], unique=False)
    op.create_table('profile_models',
    sa.Column('subscriber_id', Id, nullable=False),
    sa.Column('labels_digest', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_profile_models_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subscriber_id', name=op.f('pk_profile_models'))
    )
    op.create_table('rate_events',
    sa.Column('id', Id, nullable=False),
    sa.Column('bucket', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_events')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_rate_events_bucket_key_at', 'rate_events', ['bucket', 'key', 'at'], unique=False)
    op.create_table('mail_events',
    sa.Column('id', Id, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('report_key', sa.String(length=64), nullable=False),
    sa.Column('subscriber_id', Id, nullable=True),
    sa.Column('delivery_id', Id, nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('status_code', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('hard_bounce', 'soft_bounce', 'complaint', 'unsubscribe')", name=op.f('ck_mail_events_kind')),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_mail_events_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_mail_events_subscriber_id_subscribers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_events')),
    sa.UniqueConstraint('report_key', name=op.f('uq_mail_events_report_key')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_mail_events_created_at'), 'mail_events', ['created_at'], unique=False)


def downgrade() -> None:
    for name in ('mail_events', 'rate_events', 'profile_models', 'paper_votes', 'paper_features'):
        op.drop_table(name)
    with op.batch_alter_table('subscribers') as batch_op:
        batch_op.drop_column('legacy_links')
        batch_op.drop_column('link_secret')
    with op.batch_alter_table('papers') as batch_op:
        batch_op.drop_column('library_only')
