"""`turnout audit verify`: check the audit log's hash chain end to end."""

from __future__ import annotations

import typer

from turnout.cli.common import ConfigOption, JsonOption, emit_json, say

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Check that every audit entry follows the one before and matches its own hash
    (exit 5 naming the first entry that does not: changed or deleted)."""
    from turnout.api import verify_audit

    result = verify_audit(config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.entries:
        say("audit log intact: no entries yet")
        return
    say(
        f"audit log intact: {result.entries} entries, each follows the one before;"
        f" newest hash {result.last_hash}"
    )


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.add_typer(audit_app, name="audit")
