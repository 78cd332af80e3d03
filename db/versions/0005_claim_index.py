"""claim index: (status, next_attempt_at, id), so a claim reads only the rows it takes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 19:40:00

A claim takes the first due rows by (next_attempt_at, id). Without `id` in the index
PostgreSQL sorted every row due at the same instant (a whole planning batch) on each claim.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_status_next_attempt_at')
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due')
        batch_op.create_index('ix_deliveries_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
