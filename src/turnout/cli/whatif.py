"""ARM's what-if as `turnout plan` prints it: one line per resource, deletes in red."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

if TYPE_CHECKING:
    from turnout.api import PlannedInfra

_STYLES = {"Create": "green", "Modify": "yellow", "Deploy": "yellow", "Delete": "bold red"}


def what_if_lines(infra: PlannedInfra) -> list[str]:
    """Rich-markup lines: the template and group, then each resource's change (deletes
    first, in red, with the reason a deployment would be refused)."""
    head = f"{escape(infra.template)} -> resource group {escape(infra.resource_group)}"
    lines = [f"{head} ({infra.mode})"]
    if infra.what_if is None:
        lines.append(f"[red]ARM gave no what-if: {escape(infra.error or 'no answer')}[/]")
        return lines
    rows = infra.rows()
    if not rows:
        lines.append("no resources change")
    for change, resource in rows:
        kind = "DELETE" if change.deletes else change.change_type
        shown = escape(f"{kind:<9} {resource}")
        style = _STYLES.get(change.change_type)
        lines.append(f"[{style}]{shown}[/]" if style else shown)
        lines.extend(f"    {escape(p)}" for p in change.properties)
    refused = infra.refused
    if refused is not None:
        lines.append(f"[bold red]deploy would be refused: {escape(refused)}[/]")
    elif infra.what_if.deletes:
        lines.append("[red]deletes allowed (allow_deletes = true)[/]")
    return lines
