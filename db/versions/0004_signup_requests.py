"""signup queue: a web sign-up is a row first, handled in the background

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00

`POST /subscribe` only inserts a `signup_requests` row, whatever the address, so nothing a
visitor can observe (timing, counters, rows) differs between a new and a known address; the
web app's background task turns each row into a pending subscriber, a renewal or nothing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('signup_requests',
    sa.Column('id', Id, nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_requests')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('signup_requests')
