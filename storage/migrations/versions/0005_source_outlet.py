"""headlines and outlet names (issue 12)

sources.outlet (from the sources file) and sources.outlet_learned (from the pages and feed).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outlet', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('outlet_learned', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('outlet_learned')
        batch_op.drop_column('outlet')
