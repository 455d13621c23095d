"""`turnout audit verify|show`: check the audit log end to end; list a deployment's decisions."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.common import ConfigOption, JsonOption, OptionalEnvOption, emit_json, say

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Check that every audit entry follows the one before and matches its own hash, that
    the anchors in deployments.log and the release tags match, and that every signature
    verifies (exit 5 naming the first problem)."""
    from rich.markup import escape

    from turnout.api import verify_audit

    result = verify_audit(config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.entries:
        say("audit log intact: no entries yet")
    else:
        say(
            f"audit log intact: {result.entries} entries, each follows the one before;"
            f" newest hash {result.last_hash}"
        )
    if result.anchors:
        say(f"  {len(result.anchors)} anchors in the repository match the store")
    else:
        say("  no anchors in the repository yet (deployments.log lines, release tags)")
    verified = [s for s in result.signed if s.signature == "signed"]
    if result.signed:
        say(f"  {len(verified)} of {len(result.signed)} signed statements verify")
    for entry in result.signed:
        if entry.signature != "signed":
            say(escape(f"  row {entry.row} ({entry.action} by {entry.actor}): {entry.problem}"))


@audit_app.command("show")
def show(
    deployment: Annotated[
        int | None, typer.Option("--deployment", "-d", help="Only this deployment's decisions.")
    ] = None,
    env: OptionalEnvOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 1000,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List decisions, oldest first: who, what, and what each signature proves today."""
    from rich.markup import escape

    from turnout.api import show_audit

    result = show_audit(deployment=deployment, env=env, limit=limit, config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.lines:
        say("no audit entries")
        return
    for line in result.lines:
        where = f" #{line.deployment}" if line.deployment is not None else ""
        sign = ""
        if line.signature is not None:
            sign = f" [{line.signature}{f' {line.key}' if line.key else ''}]"
        what = f": {line.what}" if line.what else ""
        # Entries hold text from people and brackets of their own: never Rich markup.
        say(escape(f"{line.row:>5} {line.at} {line.actor} {line.action}{where}{sign}{what}"))
        if line.problem:
            say(escape(f"        {line.problem}"))


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.add_typer(audit_app, name="audit")
