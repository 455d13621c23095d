"""Documents for status and history, and their human rendering."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from turnout.cli.common import console
from turnout.cli.outcome import evidence_lines, what_happened, where_it_failed
from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.errors import TurnoutError
from turnout.history import deployment_summary
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
HELD_NEXT = (
    "decide: keep it with `turnout accept --env {env} --reason TEXT`, keep judging it with"
    " `turnout watch --env {env}`, or go back with `turnout rollback --env {env}`"
)


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
        failure = (latest[0].data or {}).get("failure") or {}
        if latest[0].status == DeploymentStatus.NEEDS_PERSON.value and failure.get("step") == (
            "verify"
        ):
            hint = HELD_NEXT
        if hint:
            document["next"] = hint.format(env=env.name, id=latest[0].id)
    document["happened"] = what_happened(env.name, document["latest"])
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
    if document.get("happened"):
        console.print(f"  {document['happened']}", markup=False)
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
        where = where_it_failed(latest)
        if where:
            console.print(f"  {where}", markup=False)
        failure = latest.get("failure") or {}
        lines = evidence_lines(failure.get("details"))
        if lines:
            console.print("  evidence:", markup=False)
            for line in lines:
                console.print(f"    {line}", markup=False)
    for pm in document.get("postmortems_open", []):
        console.print(
            f"  post-mortem #{pm['id']} open (deployment {pm['deployment']}): {pm['reason']}",
            markup=False,
        )
    if document.get("next"):
        console.print(f"  next: {document['next']}", markup=False)


def print_history(rows: list[dict[str, Any]]) -> None:
    """Human rendering of the history list: one line per deployment, always."""
    from turnout.text import first_line

    if not console.is_terminal:
        # Without a terminal a table would be cut to 80 columns: one plain line each, with
        # the first line of the message (a failure's log tail is in `turnout status`).
        for row in rows:
            later = _notes(row)
            console.print(
                f"#{row['id']} {row['environment']:<12} {row['version']:<10} {row['status']}{later}"
                f"  exit {row['exit_code']}  {row['deployer']}  {(row['started_at'] or '')[:19]}"
                f"  {first_line(row['message'] or '')}",
                markup=False,
            )
        return
    table = Table(title="deployments")
    for column in ("id", "env", "version", "type", "status", "deployer", "started", "duration"):
        # A narrow terminal shortens cells (with an ellipsis) rather than wrapping a row.
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for row in rows:
        status = row["status"] + _notes(row)
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


def _notes(row: dict[str, Any]) -> str:
    """What a history line adds to the status: a later rollback, an open post-mortem."""
    notes = " (rolled back later)" if row["rolled_back_later"] else ""
    if row.get("proven_by"):
        notes += f" (proven later by watch, {row['proven_by'].get('was')})"
    elif row.get("accepted"):
        notes += f" (accepted unproven by {row['accepted'].get('by')})"
    elif row.get("proven") is False and row["status"] == DeploymentStatus.SUCCEEDED.value:
        notes += " (not proven healthy)"
    if row.get("postmortem_open"):
        notes += f" (post-mortem #{row['postmortem_open']} open)"
    return notes
