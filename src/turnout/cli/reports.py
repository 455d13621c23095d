"""Human rendering of `status` and `history` results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from turnout.api import DeploymentStatus
from turnout.api.outcome import evidence_lines, where_it_failed
from turnout.cli.common import console

if TYPE_CHECKING:
    from turnout.api.status_report import StatusResult


def print_status(result: StatusResult) -> None:
    """Human rendering of a status result."""
    document = result.to_dict()
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
    if result.canary is not None:
        console.print(f"  {result.canary.line()}", markup=False)
    for approval in result.approvals:
        console.print(f"  {approval.line}", markup=False)
    for operation in result.pending:
        console.print(f"  {operation.line}", markup=False)
    for pm in document.get("postmortems_open", []):
        console.print(
            f"  post-mortem #{pm['id']} open (deployment {pm['deployment']}): {pm['reason']}",
            markup=False,
        )
    if document.get("next"):
        console.print(f"  next: {document['next']}", markup=False)


def print_history(rows: Sequence[Mapping[str, Any]]) -> None:
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
    from rich.table import Table  # only a terminal gets the table

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


def _notes(row: Mapping[str, Any]) -> str:
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
