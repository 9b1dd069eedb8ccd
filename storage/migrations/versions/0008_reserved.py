"""health truth and source credentials (issue 17)

Reserved slot in the migration chain so parallel work lands without renumbering; a no-op until
its owner fills it in (rename the file's suffix freely; keep the revision id).

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
