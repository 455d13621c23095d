"""`turnout incident open|close|list`: local incident records (an open one freezes deployments)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    JsonOption,
    emit_json,
    say,
)

incident_app = typer.Typer(
    help="Local incident records; an open incident freezes deployments.", no_args_is_help=True
)

OptionalEnv = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment concerned (default: every environment)."),
]


@incident_app.command("open")
def open_incident(
    title: Annotated[str, typer.Argument(help="What is happening.")],
    env: OptionalEnv = None,
    config: ConfigOption = None,
    acting: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an active incident; deployments to the environment are frozen until it closes."""
    from turnout.api import open_incident as record_incident

    opened = record_incident(title, env=env, actor=acting, config=config)
    scope = opened.environment or "every environment"
    if as_json:
        emit_json(opened.to_dict())
    else:
        say(
            escape(
                f"incident {opened.id} open ({scope}): {opened.title}; deployments there are frozen"
            )
        )


@incident_app.command("close")
def close_incident(
    incident_id: Annotated[int, typer.Argument(help="Incident number (see `incident list`).")],
    config: ConfigOption = None,
    acting: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close an incident."""
    from turnout.api import close_incident as end_incident

    closed = end_incident(incident_id, actor=acting, config=config)
    if as_json:
        emit_json(closed.to_dict())
    else:
        say(escape(f"incident {closed.id} closed: {closed.title}"))


@incident_app.command("list")
def list_incidents(
    env: OptionalEnv = None,
    config: ConfigOption = None,
    active: Annotated[bool, typer.Option("--active", help="Only open incidents.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Local incident records, newest first; with --env, PagerDuty's active ones too."""
    from turnout.api import incidents

    found = incidents(env, active_only=active, config=config)
    if as_json:
        emit_json(found.to_dict())
        return
    if not found.incidents:
        say("no incidents")
    for item in found.incidents:
        state = "OPEN  " if item.active else "closed"
        scope = item.environment or "all"
        say(
            escape(
                f"{item.source}:{item.id}  {state}  [{scope}]  {item.opened_at[:19]}  {item.title}"
            )
        )


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.add_typer(incident_app, name="incident")
