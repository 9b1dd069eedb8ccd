"""headlines and outlet names (issue 12)

Reserved slot in the migration chain so parallel work lands without renumbering; a no-op until
its owner fills it in (rename the file's suffix freely; keep the revision id).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
