"""subscriber addresses folded to lower case, duplicates merged (issue 12)

`ZOE@X.EXAMPLE` and `zoe@x.example` were two subscribers (two digests a week, two unsubscribe
links). Addresses are now stored lower-cased; this folds existing rows into one per address with
storage.people.merge_case_duplicates (earliest token kept, latest profile and topics, an
unsubscribe or removal under either spelling stands) and renames delivery-ledger rows to match.
No schema change: the primary key on the stored (lower-case) address is the uniqueness rule. A
digest with nothing in it is recorded as status "skipped", a value of the existing free-text
column.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from storage.people import merge_case_duplicates

    merge_case_duplicates(op.get_bind())


def downgrade() -> None:
    pass  # merged rows cannot be split again; lower-case addresses are valid for the old code too
