"""story and tone judgement (issue 15)

Reserved slot in the migration chain so parallel work lands without renumbering; a no-op until
its owner fills it in (rename the file's suffix freely; keep the revision id).

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
