"""approvals keep the statement their approver signed and the SSH signature over it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:45:00

Approvals recorded before this revision have neither (they read as unsigned).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision (signatures are lost; the approvals stay, unsigned)."""
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("statement")
