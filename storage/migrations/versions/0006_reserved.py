"""tenders as data and pacing (issue 16)

Reserved slot in the migration chain so parallel work lands without renumbering; a no-op until
its owner fills it in (rename the file's suffix freely; keep the revision id).

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
