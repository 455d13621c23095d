"""Documents for status and history, and their human rendering."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from turnout.cli.common import console
from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.errors import TurnoutError
from turnout.model import DeploymentStatus
from turnout.store import Store
from turnout.store.store import aware

NEXT_STEPS = {
    DeploymentStatus.RUNNING.value: "a deployment is running (or was interrupted): "
    "`turnout resume --env {env}` continues or compensates it",
    DeploymentStatus.COMPENSATING.value: "compensation was interrupted: "
    "`turnout resume --env {env}`",
    DeploymentStatus.WAITING_APPROVAL.value: "waiting for approval: "
    "`turnout approve {id} --as NAME`, then `turnout resume --env {env}`",
    DeploymentStatus.NEEDS_PERSON.value: "a person must act: read the failure below, fix the"
    " environment by hand (e.g. `turnout rollback --env {env}`), then record what you did",
}


def deployment_summary(
    store: Store, deployment_id: int, *, with_steps: bool = True
) -> dict[str, Any]:
    """A deployment and (optionally) its journal as a JSON-ready document."""
    row = store.deployment(deployment_id)
    if row is None:
        raise TurnoutError(f"no deployment {deployment_id}")
    started = aware(row.started_at) if row.started_at else None
    finished = aware(row.finished_at) if row.finished_at else None
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
        "failure": (row.data or {}).get("failure"),
        "rolled_back_later": bool((row.data or {}).get("rolled_back")),
    }
    if with_steps:
        document["steps"] = [
            {
                "step": s.name,
                "status": s.status,
                "error": s.error,
                "outputs": s.outputs,
                "started_at": aware(s.started_at).isoformat() if s.started_at else None,
                "finished_at": aware(s.finished_at).isoformat() if s.finished_at else None,
            }
            for s in store.steps(row.id)
        ]
    return document


def status_document(config: LoadedConfig, env: EnvironmentConfig, store: Store) -> dict[str, Any]:
    """Live slots, the lock, the latest deployment and what to do next."""
    document: dict[str, Any] = {"environment": env.name}
    try:
        from turnout.targets.registry import create_target

        target = create_target(config, env)
        try:
            document["slots"] = {
                name: {"version": s.version, "state": s.state, "url": s.url, "detail": s.detail}
                for name, s in target.slots().items()
            }
        finally:
            target.close()
    except TurnoutError as exc:
        document["slots"] = None
        document["target_error"] = exc.message
    lock = store.lock(env.name)
    document["lock"] = (
        None
        if lock is None
        else {
            "holder": lock.holder,
            "deployment": lock.deployment_id,
            "since": aware(lock.acquired_at).isoformat(),
            "heartbeat": aware(lock.heartbeat_at).isoformat(),
        }
    )
    latest = store.deployments(env.name, limit=1)
    document["latest"] = deployment_summary(store, latest[0].id) if latest else None
    document["next"] = None
    if latest:
        hint = NEXT_STEPS.get(latest[0].status)
        if hint:
            document["next"] = hint.format(env=env.name, id=latest[0].id)
    document["postmortems_open"] = [
        {"id": p.id, "deployment": p.deployment_id, "reason": p.reason}
        for p in store.postmortems(env.name, open_only=True)
    ]
    return document


def print_status(document: dict[str, Any]) -> None:
    """Human rendering of `status_document`."""
    console.print(f"[bold]{document['environment']}[/]")
    slots = document.get("slots")
    if slots is None:
        console.print(f"  target: unavailable ({document.get('target_error')})")
    else:
        for name, slot in slots.items():
            console.print(
                f"  slot {name:<12} {slot['version'] or '-':<12} {slot['state']:<8}"
                f" {slot['url'] or ''}",
                markup=False,
            )
    lock = document.get("lock")
    console.print(
        f"  lock: {'free' if lock is None else lock['holder'] + ' since ' + lock['since']}",
        markup=False,
    )
    latest = document.get("latest")
    if latest:
        console.print(
            f"  latest: #{latest['id']} {latest['version']} {latest['status']}"
            f" — {latest['message'] or ''}",
            markup=False,
        )
        for step in latest.get("steps", []):
            line = f"    {step['step']:<17} {step['status']}"
            if step["error"]:
                line += f"  {step['error']}"
            console.print(line, markup=False)
        failure = latest.get("failure")
        if failure and failure.get("details"):
            console.print(f"  evidence: {failure['details']}", markup=False)
    for pm in document.get("postmortems_open", []):
        console.print(
            f"  post-mortem #{pm['id']} open (deployment {pm['deployment']}): {pm['reason']}",
            markup=False,
        )
    if document.get("next"):
        console.print(f"  next: {document['next']}", markup=False)


def print_history(rows: list[dict[str, Any]]) -> None:
    """Human rendering of the history list."""
    table = Table(title="deployments")
    for column in ("id", "env", "version", "type", "status", "deployer", "started", "duration"):
        table.add_column(column)
    for row in rows:
        status = row["status"] + (" (rolled back later)" if row["rolled_back_later"] else "")
        table.add_row(
            str(row["id"]),
            row["environment"],
            row["version"],
            row["type"],
            status,
            row["deployer"],
            (row["started_at"] or "")[:19],
            f"{row['duration_s']:.1f}s" if row["duration_s"] is not None else "",
        )
    console.print(table)
