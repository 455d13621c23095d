"""`turnout incident open|close|list`: local incident records (an open one freezes deployments)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    JsonOption,
    current_user,
    emit_json,
    load,
    open_store,
    say,
)
from turnout.errors import BadInput

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
    if not title.strip():
        raise BadInput("incident open: the title must not be empty")
    loaded = load(config)
    if env is not None:
        loaded.env(env)  # an unknown environment is bad input, before anything is written
    user = current_user(acting)
    with open_store(loaded) as store:
        row = store.open_incident(title.strip(), user, env)
        store.audit(user, "incident.open", environment=env, incident=row.id, title=row.title)
    scope = env or "every environment"
    if as_json:
        emit_json({"id": row.id, "title": row.title, "environment": env, "opened_by": user})
    else:
        say(escape(f"incident {row.id} open ({scope}): {row.title}; deployments there are frozen"))


@incident_app.command("close")
def close_incident(
    incident_id: Annotated[int, typer.Argument(help="Incident number (see `incident list`).")],
    config: ConfigOption = None,
    acting: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close an incident."""
    loaded = load(config)
    user = current_user(acting)
    with open_store(loaded) as store:
        row = store.close_incident(incident_id, user)
        if row is None:
            raise BadInput(f"incident close: no open incident {incident_id}")
        store.audit(user, "incident.close", environment=row.environment, incident=row.id)
    if as_json:
        emit_json({"id": row.id, "title": row.title, "closed_by": user})
    else:
        say(escape(f"incident {row.id} closed: {row.title}"))


@incident_app.command("list")
def list_incidents(
    env: OptionalEnv = None,
    config: ConfigOption = None,
    active: Annotated[bool, typer.Option("--active", help="Only open incidents.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Local incident records, newest first; with --env, PagerDuty's active ones too."""
    loaded = load(config)
    environment = loaded.env(env) if env is not None else None
    with open_store(loaded) as store:
        rows: list[dict[str, Any]] = [
            {
                "source": "local",
                "id": str(row.id),
                "title": row.title,
                "environment": row.environment,
                "opened_by": row.opened_by,
                "opened_at": row.opened_at.isoformat(),
                "closed_at": row.closed_at.isoformat() if row.closed_at else None,
                "active": row.closed_at is None,
            }
            for row in store.incidents(env, active_only=active)
        ]
        if environment is not None and environment.integrations.incidents.pagerduty is not None:
            from turnout.integrations.incidents import active_incidents

            rows += [
                {
                    "source": found.source,
                    "id": found.id,
                    "title": found.title,
                    "environment": env,
                    "opened_at": found.opened_at,
                    "url": found.url,
                    "active": True,
                }
                for found in active_incidents(loaded, environment, store)
                if found.source != "local"
            ]
    if as_json:
        emit_json({"incidents": rows})
        return
    if not rows:
        say("no incidents")
    for item in rows:
        state = "OPEN  " if item["active"] else "closed"
        scope = item["environment"] or "all"
        say(
            escape(
                f"{item['source']}:{item['id']}  {state}  [{scope}]"
                f"  {item['opened_at'][:19]}  {item['title']}"
            )
        )


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.add_typer(incident_app, name="incident")
