"""source resume cursor for paged sources, host leases for per-host crawl exclusion

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('host_leases',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', storage.schema.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('host', name=op.f('pk_host_leases'))
    )
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cursor', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('cursor')
    op.drop_table('host_leases')
