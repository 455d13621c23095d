"""The append-only audit log: each entry carries the hash of the one before it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from turnout.store.base import StoreBase
from turnout.store.records import AuditAction, AuditEntry, ChainBreak, ChainCheck
from turnout.store.sql import Row, document, dumps, when

GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""


def audit_hash(
    prev: str,
    at: datetime,
    actor: str,
    action: str,
    environment: str | None,
    deployment_id: int | None,
    details: dict[str, Any],
) -> str:
    """SHA-256 over the previous hash and the entry's content, in a canonical form."""
    body = json.dumps(
        [prev, at.astimezone(UTC).isoformat(), actor, action, environment, deployment_id, details],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=when(row["at"]),
        actor=row["actor"],
        action=row["action"],
        environment=row["environment"],
        deployment_id=row["deployment_id"],
        details=dict(document(row["details"]) or {}),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _deleted(after: int | None, before: int) -> str | None:
    """Which ids are missing between two entries, in words (None: none are)."""
    first = 1 if after is None else after + 1
    if first >= before:
        return None
    if first == before - 1:
        return f"row {first} was deleted"
    return f"rows {first}-{before - 1} were deleted"


class AuditStore(StoreBase):
    """Append decisions, read them back, and check the chain."""

    def audit(
        self,
        actor: str,
        action: AuditAction,
        *,
        environment: str | None = None,
        deployment_id: int | None = None,
        **details: Any,
    ) -> AuditEntry:
        """Append a decision (with what it was about, as `details`) to the audit log."""
        with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                # Serialise appends so two writers never chain onto the same entry.
                tx.run("SELECT pg_advisory_xact_lock(74207)")
            last = tx.one("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")
            prev = GENESIS if last is None else str(last["hash"])
            at = when(self.db.stamp(self.now()))  # as it will read back
            digest = audit_hash(prev, at, actor, action.value, environment, deployment_id, details)
            new_id = tx.insert(
                "INSERT INTO audit (at, actor, action, environment, deployment_id, details,"
                " prev_hash, hash) VALUES (:at, :actor, :action, :environment,"
                " :deployment_id, :details, :prev_hash, :hash) RETURNING id",
                {
                    "at": self.db.stamp(at),
                    "actor": actor,
                    "action": action.value,
                    "environment": environment,
                    "deployment_id": deployment_id,
                    "details": dumps(details),
                    "prev_hash": prev,
                    "hash": digest,
                },
            )
        return AuditEntry(
            new_id, at, actor, action.value, environment, deployment_id, details, prev, digest
        )

    def audit_log(
        self, environment: str | None = None, deployment_id: int | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest `limit` entries, oldest first."""
        where: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        if environment:
            where.append("environment = :environment")
            params["environment"] = environment
        if deployment_id is not None:
            where.append("deployment_id = :deployment_id")
            params["deployment_id"] = deployment_id
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction() as tx:
            rows = tx.rows(f"SELECT * FROM audit{clause} ORDER BY id DESC LIMIT :limit", params)
        return [_entry(row) for row in reversed(rows)]

    def audit_head(self) -> tuple[int, str] | None:
        """The newest entry's id and hash (None: the log is empty): what is anchored."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
        return None if row is None else (int(row["id"]), str(row["hash"]))

    def audit_hashes(self) -> dict[int, str]:
        """Every entry's hash by id."""
        with self.db.transaction() as tx:
            rows = tx.rows("SELECT id, hash FROM audit ORDER BY id")
        return {int(row["id"]): str(row["hash"]) for row in rows}

    def check_audit_chain(self) -> ChainCheck:
        """Check every entry, oldest first: it follows the one before and matches its hash.

        A changed entry breaks at that entry; a deleted one breaks at the entry after it.
        (Deleting the newest entries leaves a chain that holds: compare `last_hash` with
        one kept elsewhere to notice that.)"""
        with self.db.transaction() as tx:
            rows = tx.rows("SELECT * FROM audit ORDER BY id")
        prev, prev_id, count = GENESIS, None, 0
        for row in rows:
            entry = _entry(row)
            if entry.prev_hash != prev:
                if prev_id is None:
                    cause = _deleted(None, entry.id) or "its prev_hash was changed"
                    problem = f"does not start the chain: {cause}"
                else:
                    cause = _deleted(prev_id, entry.id) or (
                        f"its prev_hash is not row {prev_id}'s hash"
                        f" (row {prev_id} was changed and re-hashed)"
                    )
                    problem = f"does not follow row {prev_id}: {cause}"
                return ChainCheck(count, prev, ChainBreak(entry.id, problem))
            expected = audit_hash(
                prev,
                entry.at,
                entry.actor,
                entry.action,
                entry.environment,
                entry.deployment_id,
                entry.details,
            )
            if entry.hash != expected:
                return ChainCheck(
                    count,
                    prev,
                    ChainBreak(
                        entry.id,
                        "was changed after it was written (its content does not match its hash)",
                    ),
                )
            prev, prev_id, count = entry.hash, entry.id, count + 1
        return ChainCheck(count, prev, None)

    def verify_audit(self) -> int | None:
        """Id of the first entry where the chain breaks, or None when it holds."""
        broken = self.check_audit_chain().broken
        return None if broken is None else broken.row
