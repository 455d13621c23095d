"""Deployments and their journal (one row per planned step)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from turnout.model import DeploymentStatus, DeploymentType, StepStatus
from turnout.store.base import StoreBase
from turnout.store.deployment_data import (
    TYPED_KEYS,
    AcceptanceRecord,
    AnalysisSample,
    AnnouncementRecord,
    ArmDeploymentRecord,
    DeploymentData,
    FailureRecord,
    SnapshotRecord,
    VerificationRecord,
    WatchRecord,
)
from turnout.store.records import DeploymentRecord, LaterRollback, NewDeployment, StepRecord
from turnout.store.sql import Row, Transaction, document, dumps, when, when_or_none

_ENDED = tuple(status.value for status in DeploymentStatus if status.finished)
_STEP_FINISHED = {
    StepStatus.SUCCEEDED,
    StepStatus.SKIPPED,
    StepStatus.FAILED,
    StepStatus.UNDONE,
    StepStatus.UNDO_FAILED,
}
_UNSET: Any = object()
"""An `update_deployment` argument not given (None means: set the column to NULL)."""


def _later_rollback(row: Row) -> LaterRollback | None:
    if row["rolled_back_at"] is None:
        return None
    return LaterRollback(
        at=when(row["rolled_back_at"]),
        to=row["rolled_back_to"],
        by=row["rolled_back_by"],
        reason=row["rollback_reason"],
    )


def _deployment(row: Row) -> DeploymentRecord:
    return DeploymentRecord(
        id=int(row["id"]),
        environment=row["environment"],
        version=row["version"],
        previous_version=row["previous_version"],
        type=DeploymentType(row["type"]),
        status=DeploymentStatus(row["status"]),
        deployer=row["deployer"],
        emergency=bool(row["emergency"]),
        reason=row["reason"],
        changes=row["changes"],
        package=row["package"],
        plan=tuple(document(row["plan"]) or ()),
        created_at=when(row["created_at"]),
        started_at=when_or_none(row["started_at"]),
        finished_at=when_or_none(row["finished_at"]),
        exit_code=row["exit_code"],
        message=row["message"],
        rolled_back_later=_later_rollback(row),
        data=DeploymentData.from_document(document(row["data"])),
    )


def _step(row: Row) -> StepRecord:
    return StepRecord(
        deployment_id=int(row["deployment_id"]),
        position=int(row["position"]),
        name=row["name"],
        status=StepStatus(row["status"]),
        started_at=when_or_none(row["started_at"]),
        finished_at=when_or_none(row["finished_at"]),
        outputs=dict(document(row["outputs"]) or {}),
        error=row["error"],
    )


class DeploymentStore(StoreBase):
    """Deployments, newest first, and the journal of each."""

    def create_deployment(self, deployment: NewDeployment) -> DeploymentRecord:
        """Insert a deployment (its plan not journaled: see `write_plan`) and return it.
        The fields of an ended one can be given, e.g. to bring in history kept elsewhere."""
        with self.db.transaction() as tx:
            new_id = self._insert_deployment(tx, deployment)
        found = self.deployment(new_id)
        assert found is not None
        return found

    def start_deployment(self, holder: str, deployment: NewDeployment) -> DeploymentRecord:
        """Insert a deployment, its journal and its claim on the lock in one transaction.

        A process killed at any instant therefore leaves either no deployment or one
        whose whole plan is journaled and whose lock names it.
        """
        with self.db.transaction() as tx:
            new_id = self._insert_deployment(tx, deployment)
            self._journal(tx, new_id, deployment.plan)
            tx.run(
                "UPDATE locks SET deployment_id = :id"
                " WHERE environment = :environment AND holder = :holder",
                {"id": new_id, "environment": deployment.environment, "holder": holder},
            )
        found = self.deployment(new_id)
        assert found is not None
        return found

    def _insert_deployment(self, tx: Transaction, new: NewDeployment) -> int:
        return tx.insert(
            "INSERT INTO deployments (environment, version, previous_version, type, status,"
            " deployer, emergency, reason, changes, package, plan, created_at, started_at,"
            " finished_at, exit_code, message, data) VALUES (:environment, :version,"
            " :previous_version, :type, :status, :deployer, :emergency, :reason, :changes,"
            " :package, :plan, :created_at, :started_at, :finished_at, :exit_code, :message,"
            " :data) RETURNING id",
            {
                "environment": new.environment,
                "version": new.version,
                "previous_version": new.previous_version,
                "type": new.type.value,
                "status": new.status.value,
                "deployer": new.deployer,
                "emergency": new.emergency,
                "reason": new.reason,
                "changes": new.changes,
                "package": new.package,
                "plan": dumps(list(new.plan)),
                "created_at": self.db.stamp(new.created_at or self.now()),
                "started_at": None if new.started_at is None else self.db.stamp(new.started_at),
                "finished_at": None if new.finished_at is None else self.db.stamp(new.finished_at),
                "exit_code": new.exit_code,
                "message": new.message,
                "data": dumps(dict(new.data)),
            },
        )

    @staticmethod
    def _journal(tx: Transaction, deployment_id: int, names: Sequence[str]) -> None:
        for position, name in enumerate(names):
            tx.run(
                "INSERT INTO steps (deployment_id, position, name, status, outputs)"
                " VALUES (:deployment_id, :position, :name, :status, :outputs)",
                {
                    "deployment_id": deployment_id,
                    "position": position,
                    "name": name,
                    "status": StepStatus.PENDING.value,
                    "outputs": dumps({}),
                },
            )

    def unfinished(self, environment: str) -> DeploymentRecord | None:
        """The newest deployment of an environment that has not ended."""
        ended = ", ".join(f"'{status}'" for status in _ENDED)
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT * FROM deployments WHERE environment = :environment"
                f" AND status NOT IN ({ended}) ORDER BY id DESC LIMIT 1",
                {"environment": environment},
            )
        return None if row is None else _deployment(row)

    def deployment(self, deployment_id: int) -> DeploymentRecord | None:
        """One deployment by id."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT * FROM deployments WHERE id = :id", {"id": deployment_id})
        return None if row is None else _deployment(row)

    def update_deployment(
        self,
        deployment_id: int,
        *,
        status: DeploymentStatus | str = _UNSET,
        previous_version: str | None = _UNSET,
        started_at: datetime | None = _UNSET,
        finished_at: datetime | None = _UNSET,
        exit_code: int | None = _UNSET,
        message: str | None = _UNSET,
    ) -> None:
        """Change the given fields of a deployment."""
        values: dict[str, Any] = {}
        if status is not _UNSET:
            values["status"] = DeploymentStatus(status).value
        if previous_version is not _UNSET:
            values["previous_version"] = previous_version
        for name, moment in (("started_at", started_at), ("finished_at", finished_at)):
            if moment is not _UNSET:
                values[name] = None if moment is None else self.db.stamp(moment)
        if exit_code is not _UNSET:
            values["exit_code"] = exit_code
        if message is not _UNSET:
            values["message"] = message
        if not values:
            return
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self.db.transaction() as tx:
            tx.run(
                f"UPDATE deployments SET {assignments} WHERE id = :id",
                {**values, "id": deployment_id},
            )

    def record_later_rollback(
        self, deployment_id: int, *, to: str | None, by: str, reason: str | None
    ) -> None:
        """Record that a deployment, once live, was rolled back now (to which version, by
        whom and why)."""
        with self.db.transaction() as tx:
            tx.run(
                "UPDATE deployments SET rolled_back_at = :at, rolled_back_to = :to,"
                " rolled_back_by = :by, rollback_reason = :reason WHERE id = :id",
                {
                    "at": self.db.stamp(self.now()),
                    "to": to,
                    "by": by,
                    "reason": reason,
                    "id": deployment_id,
                },
            )

    def update_deployment_data(
        self,
        deployment_id: int,
        *,
        failure: FailureRecord | None = _UNSET,
        verification: VerificationRecord = _UNSET,
        accepted: AcceptanceRecord = _UNSET,
        watch: WatchRecord = _UNSET,
        watch_probes: Sequence[Mapping[str, Any]] = _UNSET,
        snapshot: SnapshotRecord = _UNSET,
        log_line: str = _UNSET,
        tracking_problems: Sequence[str] = _UNSET,
        announcements: Mapping[str, AnnouncementRecord] = _UNSET,
        analysis_series: Sequence[AnalysisSample] = _UNSET,
        arm_deployment: ArmDeploymentRecord = _UNSET,
    ) -> None:
        """Record (or replace) what is known about a deployment, in one transaction; an
        argument not given stays as it is, `failure=None` clears the failure."""
        entries: dict[str, Any] = {}
        if failure is not _UNSET:
            entries["failure"] = None if failure is None else failure.to_dict()
        if verification is not _UNSET:
            entries["verification"] = verification.to_dict()
        if accepted is not _UNSET:
            entries["accepted"] = accepted.to_dict()
        if watch is not _UNSET:
            entries["watch"] = watch.to_dict()
        if watch_probes is not _UNSET:
            entries["watch_probes"] = [dict(batch) for batch in watch_probes]
        if snapshot is not _UNSET:
            entries["snapshot"] = snapshot.to_dict()
        if log_line is not _UNSET:
            entries["log_line"] = log_line
        if tracking_problems is not _UNSET:
            entries["tracking_problems"] = list(tracking_problems)
        if announcements is not _UNSET:
            entries["announcements"] = {k: a.to_dict() for k, a in announcements.items()}
        if analysis_series is not _UNSET:
            entries["analysis_series"] = [sample.to_dict() for sample in analysis_series]
        if arm_deployment is not _UNSET:
            entries["arm_deployment"] = arm_deployment.to_dict()
        self._merge_data(deployment_id, entries)

    def merge_deployment_data(self, deployment_id: int, **entries: Any) -> None:
        """Add (or replace) entries of a deployment's record that `DeploymentData` does not
        type yet (they read back in its `other`)."""
        typed = TYPED_KEYS & set(entries)
        if typed:
            raise ValueError(f"record {sorted(typed)} with update_deployment_data")
        self._merge_data(deployment_id, entries)

    def _merge_data(self, deployment_id: int, entries: dict[str, Any]) -> None:
        if not entries:
            return
        with self.db.transaction() as tx:
            row = tx.one("SELECT data FROM deployments WHERE id = :id", {"id": deployment_id})
            if row is None:
                return
            merged = {**(document(row["data"]) or {}), **entries}
            tx.run(
                "UPDATE deployments SET data = :data WHERE id = :id",
                {"data": dumps(merged), "id": deployment_id},
            )

    def deployments(
        self,
        environment: str | None = None,
        limit: int = 50,
        status: DeploymentStatus | str | None = None,
    ) -> list[DeploymentRecord]:
        """Newest first."""
        where: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        if environment:
            where.append("environment = :environment")
            params["environment"] = environment
        if status:
            where.append("status = :status")
            params["status"] = DeploymentStatus(status).value
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction() as tx:
            rows = tx.rows(
                f"SELECT * FROM deployments{clause} ORDER BY id DESC LIMIT :limit", params
            )
        return [_deployment(row) for row in rows]

    # -- journal ----------------------------------------------------------------------
    def write_plan(self, deployment_id: int, names: Sequence[str]) -> None:
        """Record the plan as pending journal entries."""
        with self.db.transaction() as tx:
            self._journal(tx, deployment_id, names)
            tx.run(
                "UPDATE deployments SET plan = :plan WHERE id = :id",
                {"plan": dumps(list(names)), "id": deployment_id},
            )

    def record_step(
        self,
        deployment_id: int,
        name: str,
        status: StepStatus | str,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Commit one transition of one step."""
        state = StepStatus(status)
        now = self.db.stamp(self.now())
        values: dict[str, Any] = {"status": state.value}
        if state is StepStatus.RUNNING:
            values["started_at"] = now
            values["error"] = None
        if state in _STEP_FINISHED:
            values["finished_at"] = now
        if outputs is not None:
            values["outputs"] = dumps(outputs)
        if error is not None:
            values["error"] = error
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        with self.db.transaction() as tx:
            tx.run(
                f"UPDATE steps SET {assignments}"
                " WHERE deployment_id = :deployment_id AND name = :step",
                {**values, "deployment_id": deployment_id, "step": name},
            )

    def steps(self, deployment_id: int) -> list[StepRecord]:
        """The journal of a deployment, in plan order."""
        with self.db.transaction() as tx:
            rows = tx.rows(
                "SELECT * FROM steps WHERE deployment_id = :id ORDER BY position",
                {"id": deployment_id},
            )
        return [_step(row) for row in rows]
