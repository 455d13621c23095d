"""`turnout doctor`: one line per probe of the configured integrations and credentials."""

from __future__ import annotations

import typer
from rich.markup import escape

from turnout.cli.common import ConfigOption, EnvOption, JsonOption, emit_json, say


def doctor(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Probe every configured integration and credential; exit 3 when any probe fails."""
    from turnout.api import doctor as probe_environment

    result = probe_environment(env, config=config)
    if as_json:
        emit_json(result.to_dict())
    else:
        for probe in result.probes:
            mark = "[green]ok[/]  " if probe.ok else "[red]FAIL[/]"
            say(f"{mark} {escape(probe.name)}: {escape(probe.detail)}")
    refusal = result.refusal()
    if refusal is not None:
        raise refusal


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("doctor")(doctor)
