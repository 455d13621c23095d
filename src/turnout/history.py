"""Deployments as JSON-ready documents (for status, history, the demo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turnout.errors import TurnoutError
from turnout.store import Store
from turnout.store.deployment_data import DeploymentData

DeploymentDocument = Mapping[str, Any]
"""A deployment as `turnout history --json` prints it (with its journal in `status`)."""


def _proven(data: DeploymentData) -> bool | None:
    """Whether verification proved the release healthy (None: it never got that far)."""
    return None if data.verification is None else data.verification.proven


def _proven_by(data: DeploymentData) -> dict[str, Any] | None:
    """The later proof (a watch's healthy verdict) of a release kept or held unproven."""
    proof = None if data.verification is None else data.verification.proven_by
    return None if proof is None else proof.to_dict()


def deployment_summary(
    store: Store, deployment_id: int, *, with_steps: bool = True
) -> dict[str, Any]:
    """A deployment and (optionally) its journal as a JSON-ready document."""
    row = store.deployment(deployment_id)
    if row is None:
        raise TurnoutError(f"no deployment {deployment_id}")
    started = row.started_at if row.started_at else None
    finished = row.finished_at if row.finished_at else None
    document: dict[str, Any] = {
        "id": row.id,
        "environment": row.environment,
        "version": row.version,
        "previous_version": row.previous_version,
        "type": row.type,
        "status": row.status,
        "deployer": row.deployer,
        "emergency": row.emergency,
        "reason": row.reason,
        "started_at": started.isoformat() if started else None,
        "finished_at": finished.isoformat() if finished else None,
        "duration_s": round((finished - started).total_seconds(), 3)
        if started and finished
        else None,
        "exit_code": row.exit_code,
        "message": row.message,
        "failure": None if row.data.failure is None else row.data.failure.to_dict(),
        "rolled_back_later": row.rolled_back_later is not None,
        "rolled_back": None if row.rolled_back_later is None else row.rolled_back_later.to_dict(),
        "proven": _proven(row.data),
        "proven_by": _proven_by(row.data),
        "accepted": None if row.data.accepted is None else row.data.accepted.to_dict(),
        "postmortem_open": next(
            (
                pm.id
                for pm in store.postmortems(row.environment, open_only=True)
                if pm.deployment_id == row.id
            ),
            None,
        ),
    }
    if with_steps:
        document["steps"] = [
            {
                "step": s.name,
                "status": s.status,
                "error": s.error,
                "outputs": s.outputs,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
            }
            for s in store.steps(row.id)
        ]
    return document
