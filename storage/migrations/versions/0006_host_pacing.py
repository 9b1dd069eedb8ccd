"""tenders as data and pacing (issue 16): host_pacing, the next free request slot per API host

A source's `rate:` (kept in sources.options) is enforced across crawl processes by reserving
request slots in this table, so two Airflow workers reading Find a Tender share its 12/2min.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.schema

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('host_pacing',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('next_at', storage.schema.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('host', name=op.f('pk_host_pacing'))
    )


def downgrade() -> None:
    op.drop_table('host_pacing')
