"""polling state, procurement notices, article modified date and section

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('release_id', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('buyer', sa.Text(), nullable=True),
    sa.Column('suppliers', sa.JSON(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('currency', sa.String(length=8), nullable=True),
    sa.Column('cpv', sa.JSON(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('published_at', storage.schema.UTCDateTime(), nullable=False),
    sa.Column('tender_deadline', storage.schema.UTCDateTime(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('matched', sa.JSON(), nullable=False),
    sa.Column('first_seen_at', storage.schema.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_ocid'), ['ocid'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_source'), ['source'], unique=False)

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('modified_at', storage.schema.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('section', sa.Text(), nullable=True))

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poll_interval_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_poll_at', storage.schema.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('retry_after_until', storage.schema.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('failures', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('failures')
        batch_op.drop_column('retry_after_until')
        batch_op.drop_column('next_poll_at')
        batch_op.drop_column('poll_interval_s')
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('section')
        batch_op.drop_column('modified_at')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_source'))
        batch_op.drop_index(batch_op.f('ix_notices_published_at'))
        batch_op.drop_index(batch_op.f('ix_notices_ocid'))
    op.drop_table('notices')
