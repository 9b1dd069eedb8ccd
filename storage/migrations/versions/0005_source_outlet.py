"""headlines and outlet names (issue 12)

sources.outlet (from the sources file) and sources.outlet_learned (from the pages and feed);
article_versions.raw_title (the page's <title> as fetched, kept as provenance of the headline).

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
    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_title', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.drop_column('raw_title')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('outlet_learned')
        batch_op.drop_column('outlet')
