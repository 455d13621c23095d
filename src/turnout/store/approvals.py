"""Approvals of deployments."""

from __future__ import annotations

from turnout.store.base import StoreBase
from turnout.store.records import ApprovalRecord
from turnout.store.sql import Row, when


def _approval(row: Row) -> ApprovalRecord:
    return ApprovalRecord(
        id=int(row["id"]),
        deployment_id=int(row["deployment_id"]),
        approver=row["approver"],
        role=row["role"],
        comment=row["comment"],
        created_at=when(row["created_at"]),
        statement=row["statement"],
        signature=row["signature"],
    )


class ApprovalStore(StoreBase):
    """Record and list approvals."""

    def add_approval(
        self,
        deployment_id: int,
        approver: str,
        role: str | None,
        comment: str | None = None,
        *,
        statement: str | None = None,
        signature: str | None = None,
    ) -> ApprovalRecord:
        """Record an approval (signed: with the statement and the signature over it)."""
        with self.db.transaction() as tx:
            new_id = tx.insert(
                "INSERT INTO approvals (deployment_id, approver, role, comment, created_at,"
                " statement, signature) VALUES (:deployment_id, :approver, :role, :comment,"
                " :at, :statement, :signature) RETURNING id",
                {
                    "deployment_id": deployment_id,
                    "approver": approver,
                    "role": role,
                    "comment": comment,
                    "at": self.db.stamp(self.now()),
                    "statement": statement,
                    "signature": signature,
                },
            )
            row = tx.one("SELECT * FROM approvals WHERE id = :id", {"id": new_id})
        assert row is not None
        return _approval(row)

    def approvals(self, deployment_id: int) -> list[ApprovalRecord]:
        """Approvals of a deployment, oldest first."""
        with self.db.transaction() as tx:
            rows = tx.rows(
                "SELECT * FROM approvals WHERE deployment_id = :id ORDER BY id",
                {"id": deployment_id},
            )
        return [_approval(row) for row in rows]
