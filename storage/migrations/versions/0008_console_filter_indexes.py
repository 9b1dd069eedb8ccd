"""indexes for the console's tag and language filters (issue 14)

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_article_tags_slug', 'article_tags', ['slug'])
    op.create_index('ix_articles_language', 'articles', ['language'])


def downgrade() -> None:
    op.drop_index('ix_articles_language', table_name='articles')
    op.drop_index('ix_article_tags_slug', table_name='article_tags')
