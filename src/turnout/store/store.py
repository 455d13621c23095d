"""The state store: deployments, the step journal, locks, approvals, audit and records.

Every method is its own transaction, committed before it returns, so the journal
on disk is always at least as new as anything the engine did.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from turnout.clock import Clock, SystemClock
from turnout.errors import BadInput, LockHeld, Unavailable
from turnout.store import schema
from turnout.store.tables import (
    ApprovalRow,
    AuditRow,
    BackupRow,
    DeploymentRow,
    IncidentRow,
    KeyValueRow,
    LockRow,
    PostmortemRow,
    StepRow,
)

GENESIS = "0" * 64
OUT_OF_RANGE = f"a number given is out of range (ids and counts go up to {2**63 - 1})"


def holder_identity(user: str) -> str:
    """Who holds a lock: user, host and process id."""
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; turnout stores UTC, so label them as such."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Store:
    """turnout's state in SQLite (default) or PostgreSQL, through SQLAlchemy 2."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(
        cls,
        state_dir: Path,
        clock: Clock | None = None,
        url: str | None = None,
        *,
        create: bool = True,
    ) -> Store:
        """Open (and upgrade) the store for a configuration's state directory. With
        `create=False`, a project without one gets an empty store in memory instead."""
        if not create and url is None and not schema.state_exists(state_dir):
            engine = schema.memory_engine()
            schema.upgrade(engine, "sqlite://")
            return cls(engine, clock)
        resolved = url or schema.state_url(state_dir)
        engine = schema.make_engine(resolved)
        try:
            schema.upgrade(engine, resolved)
        except OperationalError as exc:
            # Nothing was read or written: the person makes it reachable and runs again (exit 3).
            raise Unavailable(
                f"state database {engine.url!r} unavailable: {exc.orig}; nothing was changed"
            ) from exc
        return cls(engine, clock)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error.

        A number the database cannot hold (a 20-digit id typed on the command line) is bad
        input, exit 2: no row can have it, and nothing was written.
        """
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OverflowError as exc:  # SQLite: "Python int too large to convert"
            raise BadInput(f"{OUT_OF_RANGE}; nothing was changed") from exc
        except DataError as exc:  # PostgreSQL: "bigint out of range"
            if "out of range" not in str(exc.orig):
                raise
            raise BadInput(f"{OUT_OF_RANGE}; nothing was changed") from exc

    def now(self) -> datetime:
        """The store's clock."""
        return self.clock.now()

    # -- deployments ------------------------------------------------------------------
    def create_deployment(self, **fields: Any) -> DeploymentRow:
        """Insert a deployment row and return it."""
        fields.setdefault("created_at", self.now())
        row = DeploymentRow(**fields)
        with self.session() as s:
            s.add(row)
            s.flush()
        return row

    def start_deployment(self, holder: str, plan: list[str], **fields: Any) -> DeploymentRow:
        """Insert a deployment, its journal and its claim on the lock in one transaction.

        A process killed at any instant therefore leaves either no deployment or one
        whose whole plan is journaled and whose lock names it.
        """
        fields.setdefault("created_at", self.now())
        row = DeploymentRow(plan=list(plan), **fields)
        with self.session() as s:
            s.add(row)
            s.flush()
            for position, name in enumerate(plan):
                s.add(
                    StepRow(
                        deployment_id=row.id,
                        position=position,
                        name=name,
                        status="pending",
                        outputs={},
                    )
                )
            s.execute(
                update(LockRow)
                .where(LockRow.environment == row.environment, LockRow.holder == holder)
                .values(deployment_id=row.id)
            )
        return row

    def unfinished(self, environment: str) -> DeploymentRow | None:
        """The newest deployment of an environment that has not ended."""
        ended = ["succeeded", "refused", "rolled-back", "needs-person"]
        query = (
            select(DeploymentRow)
            .where(DeploymentRow.environment == environment, DeploymentRow.status.not_in(ended))
            .order_by(DeploymentRow.id.desc())
            .limit(1)
        )
        with self.session() as s:
            return s.scalars(query).first()

    def deployment(self, deployment_id: int) -> DeploymentRow | None:
        """One deployment by id."""
        with self.session() as s:
            return s.get(DeploymentRow, deployment_id)

    def update_deployment(self, deployment_id: int, **fields: Any) -> None:
        """Change fields of a deployment."""
        with self.session() as s:
            s.execute(
                update(DeploymentRow).where(DeploymentRow.id == deployment_id).values(**fields)
            )

    def merge_deployment_data(self, deployment_id: int, **data: Any) -> None:
        """Add keys to a deployment's free-form `data` record."""
        with self.session() as s:
            row = s.get(DeploymentRow, deployment_id)
            if row is not None:
                row.data = {**(row.data or {}), **data}

    def deployments(
        self, environment: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[DeploymentRow]:
        """Newest first."""
        query = select(DeploymentRow).order_by(DeploymentRow.id.desc()).limit(limit)
        if environment:
            query = query.where(DeploymentRow.environment == environment)
        if status:
            query = query.where(DeploymentRow.status == status)
        with self.session() as s:
            return list(s.scalars(query))

    # -- journal ----------------------------------------------------------------------
    def write_plan(self, deployment_id: int, names: list[str]) -> None:
        """Record the plan as pending journal entries."""
        with self.session() as s:
            for position, name in enumerate(names):
                s.add(
                    StepRow(
                        deployment_id=deployment_id,
                        position=position,
                        name=name,
                        status="pending",
                        outputs={},
                    )
                )
            s.execute(
                update(DeploymentRow).where(DeploymentRow.id == deployment_id).values(plan=names)
            )

    def record_step(
        self,
        deployment_id: int,
        name: str,
        status: str,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Commit one transition of one step."""
        now = self.now()
        values: dict[str, Any] = {"status": status}
        if status == "running":
            values["started_at"] = now
            values["error"] = None
        if status in {"succeeded", "skipped", "failed", "undone", "undo-failed"}:
            values["finished_at"] = now
        if outputs is not None:
            values["outputs"] = outputs
        if error is not None:
            values["error"] = error
        with self.session() as s:
            s.execute(
                update(StepRow)
                .where(StepRow.deployment_id == deployment_id, StepRow.name == name)
                .values(**values)
            )

    def steps(self, deployment_id: int) -> list[StepRow]:
        """The journal of a deployment, in plan order."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(StepRow)
                    .where(StepRow.deployment_id == deployment_id)
                    .order_by(StepRow.position)
                )
            )

    # -- locks ------------------------------------------------------------------------
    def acquire_lock(self, environment: str, deployment_id: int | None, holder: str) -> None:
        """Take the environment's lock atomically, or raise LockHeld naming the holder."""
        now = self.now()
        row = LockRow(
            environment=environment,
            deployment_id=deployment_id,
            holder=holder,
            host=socket.gethostname(),
            pid=os.getpid(),
            acquired_at=now,
            heartbeat_at=now,
        )
        try:
            with self.session() as s:
                s.add(row)
        except IntegrityError:
            held = self.lock(environment)
            if held is None:  # released between our insert and our read: try once more
                return self.acquire_lock(environment, deployment_id, holder)
            raise LockHeld(
                f"environment {environment} is locked by {held.holder}"
                f" (deployment {held.deployment_id})"
                f" since {aware(held.acquired_at):%Y-%m-%d %H:%M:%S} UTC",
                details={
                    "holder": held.holder,
                    "deployment": held.deployment_id,
                    "since": aware(held.acquired_at).isoformat(),
                },
            ) from None
        return None

    def lock(self, environment: str) -> LockRow | None:
        """The environment's lock, if held."""
        with self.session() as s:
            return s.get(LockRow, environment)

    def set_lock_deployment(self, environment: str, holder: str, deployment_id: int) -> None:
        """Attach the deployment id to a lock taken before the deployment row existed."""
        with self.session() as s:
            s.execute(
                update(LockRow)
                .where(LockRow.environment == environment, LockRow.holder == holder)
                .values(deployment_id=deployment_id)
            )

    def heartbeat(self, environment: str, holder: str) -> bool:
        """Show that the holder is alive; False when the lock is no longer this holder's."""
        with self.session() as s:
            result = s.execute(
                update(LockRow)
                .where(LockRow.environment == environment, LockRow.holder == holder)
                .values(heartbeat_at=self.now())
            )
            return bool(getattr(result, "rowcount", 0))

    def release_lock(self, environment: str, holder: str | None = None) -> None:
        """Free the lock (only the holder's, when a holder is given)."""
        with self.session() as s:
            query = delete(LockRow).where(LockRow.environment == environment)
            if holder is not None:
                query = query.where(LockRow.holder == holder)
            s.execute(query)

    def take_over_lock(
        self,
        environment: str,
        expected_holder: str,
        holder: str,
        deployment_id: int | None = None,
    ) -> bool:
        """Replace a (dead) holder by a new one, only if it is still the expected one."""
        with self.session() as s:
            result = s.execute(
                update(LockRow)
                .where(LockRow.environment == environment, LockRow.holder == expected_holder)
                .values(
                    holder=holder,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    deployment_id=deployment_id,
                    acquired_at=self.now(),
                    heartbeat_at=self.now(),
                )
            )
            return bool(getattr(result, "rowcount", 0))

    # -- approvals --------------------------------------------------------------------
    def add_approval(
        self, deployment_id: int, approver: str, role: str | None, comment: str | None = None
    ) -> ApprovalRow:
        """Record an approval."""
        row = ApprovalRow(
            deployment_id=deployment_id,
            approver=approver,
            role=role,
            comment=comment,
            created_at=self.now(),
        )
        with self.session() as s:
            s.add(row)
        return row

    def approvals(self, deployment_id: int) -> list[ApprovalRow]:
        """Approvals of a deployment, oldest first."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(ApprovalRow)
                    .where(ApprovalRow.deployment_id == deployment_id)
                    .order_by(ApprovalRow.id)
                )
            )

    # -- audit ------------------------------------------------------------------------
    def audit(
        self,
        actor: str,
        action: str,
        *,
        environment: str | None = None,
        deployment_id: int | None = None,
        **details: Any,
    ) -> AuditRow:
        """Append a decision to the hash-chained audit log."""
        with self.session() as s:
            if s.bind is not None and s.get_bind().dialect.name == "postgresql":
                # Serialise appends so two writers never chain onto the same row.
                s.execute(text("SELECT pg_advisory_xact_lock(74207)"))
            last = s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).first()
            prev = last.hash if last is not None else GENESIS
            at = self.now()
            row = AuditRow(
                at=at,
                actor=actor,
                action=action,
                environment=environment,
                deployment_id=deployment_id,
                details=details,
                prev_hash=prev,
                hash=audit_hash(prev, at, actor, action, environment, deployment_id, details),
            )
            s.add(row)
        return row

    def audit_log(
        self, environment: str | None = None, deployment_id: int | None = None, limit: int = 1000
    ) -> list[AuditRow]:
        """Audit rows, oldest first."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if environment:
            query = query.where(AuditRow.environment == environment)
        if deployment_id is not None:
            query = query.where(AuditRow.deployment_id == deployment_id)
        with self.session() as s:
            return list(reversed(list(s.scalars(query))))

    def verify_audit(self) -> int | None:
        """Id of the first row whose chain is broken, or None when the chain holds."""
        prev = GENESIS
        for row in self.audit_log(limit=10**9):
            expected = audit_hash(
                prev,
                aware(row.at),
                row.actor,
                row.action,
                row.environment,
                row.deployment_id,
                row.details,
            )
            if row.prev_hash != prev or row.hash != expected:
                return row.id
            prev = row.hash
        return None

    # -- incidents, post-mortems, backups, small records ------------------------------
    def open_incident(
        self, title: str, opened_by: str, environment: str | None = None, **details: Any
    ) -> IncidentRow:
        """Record an active incident (it freezes deployments until closed)."""
        row = IncidentRow(
            title=title,
            opened_by=opened_by,
            environment=environment,
            opened_at=self.now(),
            details=details,
        )
        with self.session() as s:
            s.add(row)
        return row

    def close_incident(self, incident_id: int, closed_by: str) -> IncidentRow | None:
        """Close an incident; None when there is no such open incident."""
        with self.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None or row.closed_at is not None:
                return None
            row.closed_at = self.now()
            row.closed_by = closed_by
            return row

    def incidents(
        self, environment: str | None = None, active_only: bool = False
    ) -> list[IncidentRow]:
        """Incidents concerning an environment (or all), newest first."""
        query = select(IncidentRow).order_by(IncidentRow.id.desc())
        if environment:
            query = query.where(
                (IncidentRow.environment == environment) | (IncidentRow.environment.is_(None))
            )
        if active_only:
            query = query.where(IncidentRow.closed_at.is_(None))
        with self.session() as s:
            return list(s.scalars(query))

    def open_postmortem(self, deployment_id: int, environment: str, reason: str) -> PostmortemRow:
        """Open the post-mortem an emergency deployment owes."""
        row = PostmortemRow(
            deployment_id=deployment_id,
            environment=environment,
            reason=reason,
            opened_at=self.now(),
        )
        with self.session() as s:
            s.add(row)
        return row

    def close_postmortem(
        self, postmortem_id: int, closed_by: str, link: str
    ) -> PostmortemRow | None:
        """Close a post-mortem with a link to the write-up."""
        with self.session() as s:
            row = s.get(PostmortemRow, postmortem_id)
            if row is None or row.closed_at is not None:
                return None
            row.closed_at, row.closed_by, row.link = self.now(), closed_by, link
            return row

    def postmortems(
        self, environment: str | None = None, open_only: bool = False
    ) -> list[PostmortemRow]:
        """Post-mortems, newest first."""
        query = select(PostmortemRow).order_by(PostmortemRow.id.desc())
        if environment:
            query = query.where(PostmortemRow.environment == environment)
        if open_only:
            query = query.where(PostmortemRow.closed_at.is_(None))
        with self.session() as s:
            return list(s.scalars(query))

    def add_backup(self, **fields: Any) -> BackupRow:
        """Record a backup."""
        fields.setdefault("created_at", self.now())
        row = BackupRow(**fields)
        with self.session() as s:
            s.add(row)
        return row

    def update_backup(self, backup_id: int, **fields: Any) -> None:
        """Change a backup record (status, verification)."""
        with self.session() as s:
            s.execute(update(BackupRow).where(BackupRow.id == backup_id).values(**fields))

    def backups(self, environment: str, status: str | None = None) -> list[BackupRow]:
        """Backups of an environment, newest first."""
        query = (
            select(BackupRow)
            .where(BackupRow.environment == environment)
            .order_by(BackupRow.id.desc())
        )
        if status:
            query = query.where(BackupRow.status == status)
        with self.session() as s:
            return list(s.scalars(query))

    def backup(self, backup_id: int) -> BackupRow | None:
        """One backup by id."""
        with self.session() as s:
            return s.get(BackupRow, backup_id)

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a small named record."""
        with self.session() as s:
            row = s.get(KeyValueRow, key)
            if row is None:
                s.add(KeyValueRow(key=key, value=value, updated_at=self.now()))
            else:
                row.value, row.updated_at = value, self.now()

    def get(self, key: str) -> dict[str, Any] | None:
        """A small named record, if stored."""
        with self.session() as s:
            row = s.get(KeyValueRow, key)
            return None if row is None else dict(row.value)


def audit_hash(
    prev: str,
    at: datetime,
    actor: str,
    action: str,
    environment: str | None,
    deployment_id: int | None,
    details: dict[str, Any],
) -> str:
    """SHA-256 over the previous hash and the row's content, in a canonical form."""
    # UTC explicitly: PostgreSQL hands timestamptz back in the session's time zone.
    body = json.dumps(
        [
            prev,
            aware(at).astimezone(UTC).isoformat(),
            actor,
            action,
            environment,
            deployment_id,
            details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()
