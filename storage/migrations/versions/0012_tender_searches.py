"""saved tender searches (issue 14)

The Tenders page's filters (buyer, CPV prefix, value range, stage, closing dates) stored under a
unique name, managed by analysts in the console and the API.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tender_searches',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('buyer', sa.String(length=200), nullable=True),
        sa.Column('cpv', sa.String(length=8), nullable=True),
        sa.Column('min_value', sa.Float(), nullable=True),
        sa.Column('max_value', sa.Float(), nullable=True),
        sa.Column('stage', sa.String(length=16), nullable=True),
        sa.Column('closing_from', sa.Date(), nullable=True),
        sa.Column('closing_to', sa.Date(), nullable=True),
        sa.Column('created_by', sa.String(length=320), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_searches')),
        sa.UniqueConstraint('name', name=op.f('uq_tender_searches_name')),
    )


def downgrade() -> None:
    op.drop_table('tender_searches')
