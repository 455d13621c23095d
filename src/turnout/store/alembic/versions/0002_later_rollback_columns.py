"""a later rollback of a deployment is recorded in columns, not in its data record

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 05:00:00

`turnout rollback` (by hand or by `turnout watch`) used to write `rolled_back`,
`rolled_back_to`, `rolled_back_by`, `rolled_back_at` and `rollback_reason` into the
deployment's JSON `data`; existing rows are converted both ways.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_KEYS = ("rolled_back", "rolled_back_to", "rolled_back_by", "rolled_back_at", "rollback_reason")
_deployments = sa.table(
    "deployments",
    sa.column("id", sa.Integer()),
    sa.column("data", sa.JSON()),
    sa.column("rolled_back_at", sa.DateTime(timezone=True)),
    sa.column("rolled_back_to", sa.String(200)),
    sa.column("rolled_back_by", sa.String(200)),
    sa.column("rollback_reason", sa.Text()),
)


def _document(value: Any) -> dict[str, Any]:
    found = json.loads(value) if isinstance(value, str | bytes) else value
    return dict(found) if isinstance(found, dict) else {}


def _instant(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value)) if value else datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    # SQLite keeps the wall time it is given: always UTC, as the store writes it.
    return moment.astimezone(UTC)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rolled_back_to", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("rolled_back_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("rollback_reason", sa.Text(), nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.text("SELECT id, data FROM deployments")).mappings():
        data = _document(row["data"])
        if not any(key in data for key in _KEYS):
            continue
        values: dict[str, Any] = {"data": {k: v for k, v in data.items() if k not in _KEYS}}
        if data.get("rolled_back"):
            values.update(
                rolled_back_at=_instant(data.get("rolled_back_at")),
                rolled_back_to=data.get("rolled_back_to"),
                rolled_back_by=data.get("rolled_back_by"),
                rollback_reason=data.get("rollback_reason"),
            )
        bind.execute(_deployments.update().where(_deployments.c.id == row["id"]).values(values))


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    query = sa.select(
        _deployments.c.id,
        _deployments.c.data,
        _deployments.c.rolled_back_at,
        _deployments.c.rolled_back_to,
        _deployments.c.rolled_back_by,
        _deployments.c.rollback_reason,
    ).where(_deployments.c.rolled_back_at.is_not(None))
    for row in bind.execute(query).mappings():
        at = row["rolled_back_at"]
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        data = {
            **_document(row["data"]),
            "rolled_back": True,
            "rolled_back_at": at.isoformat(),
            "rolled_back_to": row["rolled_back_to"],
            "rolled_back_by": row["rolled_back_by"],
            "rollback_reason": row["rollback_reason"],
        }
        bind.execute(_deployments.update().where(_deployments.c.id == row["id"]).values(data=data))
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("rollback_reason")
        batch_op.drop_column("rolled_back_by")
        batch_op.drop_column("rolled_back_to")
        batch_op.drop_column("rolled_back_at")
