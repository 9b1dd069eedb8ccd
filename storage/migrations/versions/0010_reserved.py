"""digest send guards and subscribers (issue 12)

Reserved slot in the migration chain so parallel work lands without renumbering; a no-op until
its owner fills it in (rename the file's suffix freely; keep the revision id).

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
