"""Deployment commands: deploy, plan, resume, rollback, status, history."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from turnout.api import DeploymentType
from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    OptionalEnvOption,
    emit_json,
    say,
)
from turnout.versions import check_version

# The API's modules (and the engine behind them) are imported by the commands that use
# them, so that `status` and `history` start without the engine's import time.
if TYPE_CHECKING:
    from turnout.api import DeployResult

TypeOption = Annotated[
    DeploymentType, typer.Option("--type", "-t", help="app, infra or full.", case_sensitive=False)
]


def _checked_version(value: str) -> str:
    return check_version(value)


def _checked_to(value: str | None) -> str | None:
    return None if value is None else check_version(value, what="--to")


VersionOption = Annotated[
    str,
    # Checked while the command line is parsed: nothing runs with a version that could
    # become a path, an option or a second argument (docs/cli.md, "Versions").
    typer.Option("--version", "-v", help="Version to deploy.", callback=_checked_version),
]
PackageOption = Annotated[Path | None, typer.Option(help="Release package (zip or directory).")]
EmergencyOption = Annotated[bool, typer.Option(help="Emergency path (needs --reason).")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (emergency or outside window).")]
OutsideWindowOption = Annotated[
    bool, typer.Option(help="Deploy in an 'avoid' window (needs --reason and an approval).")
]
FixesIncidentOption = Annotated[
    list[str] | None,
    typer.Option(help="Active incident this emergency fixes (repeatable); lets it proceed."),
]


def _finish(result: DeployResult, as_json: bool) -> None:
    from rich.markup import escape

    if as_json:
        emit_json(result.to_dict())
    elif result.exit_code == 0:
        say(f"[green]✓[/] deployment {result.deployment_id}: {escape(result.message)}")
    else:
        say(
            f"[red]✗[/] deployment {result.deployment_id} {result.outcome}:"
            f" {escape(result.headline)}"
        )
        say(f"  see `turnout status --env {result.environment}`")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def deploy(
    env: EnvOption,
    version: VersionOption,
    package: PackageOption = None,
    kind: TypeOption = DeploymentType.APP,
    emergency: EmergencyOption = False,
    reason: ReasonOption = None,
    outside_window: OutsideWindowOption = False,
    fixes_incident: FixesIncidentOption = None,
    changes: Annotated[str | None, typer.Option(help="Change summary for announcements.")] = None,
    wait_approval: Annotated[
        float | None,
        typer.Option(help="Wait up to this many seconds for a missing approval, then go on."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the runbook: deploy a version to an environment."""
    from turnout.api import deploy as run_deployment
    from turnout.cli.progress import Progress

    ask = sys.stdin.isatty() and not yes and not as_json
    with Progress(f"deploy {version} to {env}", quiet=as_json) as progress:
        result = run_deployment(
            env,
            version,
            package=package,
            kind=kind,
            emergency=emergency,
            reason=reason,
            outside_window=outside_window,
            fixes_incidents=fixes_incident or (),
            changes=changes,
            wait_approval=wait_approval,
            actor=actor,
            config=config,
            on_event=progress,
            notice=say,
            confirm=typer.confirm if ask else None,
        )
    _finish(result, as_json)


def resume(
    env: EnvOption,
    force_unlock: Annotated[
        bool, typer.Option(help="Take the lock even if its holder looks alive (audited).")
    ] = False,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Continue (or compensate) an interrupted deployment."""
    from rich.markup import escape

    from turnout.api import resume as resume_deployment
    from turnout.cli.progress import Progress

    with Progress(f"resume {env}", quiet=as_json) as progress:
        result = resume_deployment(
            env, force_unlock=force_unlock, actor=actor, config=config, on_event=progress
        )
    if result.resumed is not None:
        _finish(result.resumed, as_json)
        return
    if as_json:
        emit_json(result.to_dict())
    held = result.held
    if held is None:
        say(f"nothing to resume on {env}: no deployment is interrupted or waiting")
        return
    # A hold is not an interruption: resuming cannot decide for the person.
    say(
        f"nothing to resume on {env}: deployment {held.id} of {held.version} needs a person"
        f" ({escape(held.message or 'no message')}); `turnout status --env {env}` shows the"
        f" evidence; keep it with `turnout accept --env {env} --reason TEXT`, keep judging it"
        f" with `turnout watch --env {env}`, or go back with `turnout rollback --env {env}`"
    )
    raise typer.Exit(result.exit_code)


def plan(
    env: EnvOption,
    version: VersionOption,
    package: PackageOption = None,
    kind: TypeOption = DeploymentType.APP,
    emergency: EmergencyOption = False,
    reason: ReasonOption = None,
    outside_window: OutsideWindowOption = False,
    fixes_incident: FixesIncidentOption = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 3 when the deployment would be refused now (for CI)."),
    ] = False,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dry run: the steps a deployment would run and every gate's verdict; changes nothing."""
    from rich.markup import escape

    from turnout.api import plan as plan_deployment

    result = plan_deployment(
        env,
        version,
        package=package,
        kind=kind,
        emergency=emergency,
        reason=reason,
        outside_window=outside_window,
        fixes_incidents=fixes_incident or (),
        actor=actor,
        config=config,
    )
    # --check: the same exit code a refused deploy ends with, so CI can stop before trying.
    refused = result.refused_exit_code if check else 0
    if as_json:
        emit_json(result.to_dict())
        if refused:
            raise typer.Exit(refused)
        return
    say(f"plan: {result.kind.value} deployment of {version} to {env}")
    for index, item in enumerate(result.steps, 1):
        say(f"  {index:>2}. {item.phase:<15} {item.step}{'  (gate)' if item.gate else ''}")
    say("gates:")
    for gate in result.gates:
        mark = "✗" if gate.blocking else "·"
        name = gate.item or gate.gate
        say(f"  {mark} {name:<20} {gate.verdict:<15} {escape(gate.summary)}")
    if not result.window_enforced:
        say(
            f"  the window verdict is shown, not enforced, on {env}"
            " (policy.enforce_window = false); active incidents still freeze"
        )
    if result.infra is not None:
        from turnout.cli.whatif import what_if_lines

        say("infrastructure (ARM what-if):")
        for line in what_if_lines(result.infra):
            say(f"  {line}")
    if result.database is not None:
        say("database:")
        for line in result.database.lines():
            say(f"  {escape(line)}")
    if result.canary is not None:
        say("canary:")
        for line in result.canary.lines():
            say(f"  {escape(line)}")
    if result.evidence_budget is not None:
        say("evidence budget:")
        for line in result.evidence_budget.lines():
            say(f"  {escape(line)}")
    if result.blocking:
        held = ", ".join(g.item or g.gate for g in result.blocking)
        say(f"[red]deploy would be refused now[/] (blocking: {held})")
    else:
        say("[green]deploy would pass the gates now[/]")
    if refused:
        raise typer.Exit(refused)


def rollback(
    env: EnvOption,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Version to go back to.",
            callback=_checked_to,
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log).")] = "manual",
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Swap back to the previous version (kept warm in the staging slot)."""
    from turnout.api import rollback as swap_back

    result = swap_back(env, to=to, reason=reason, actor=actor, config=config)
    if as_json:
        emit_json(result.to_dict())
    else:
        from rich.markup import escape

        for line in result.followed:
            say(f"  {escape(line)}")
        say(f"[green]✓[/] {result.summary}")


def status(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """What is live, what is running, what happened last, what to do next."""
    from turnout.api import status as environment_status

    result = environment_status(env, config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    from turnout.cli.reports import print_status

    print_status(result)


def history(
    env: OptionalEnvOption = None,
    limit: Annotated[int, typer.Option(help="How many deployments.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Past deployments, newest first."""
    from turnout.api import history as past_deployments

    result = past_deployments(env, limit=limit, config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    from turnout.cli.reports import print_history

    print_history(result.deployments)


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("deploy")(deploy)
    app.command("plan")(plan)
    app.command("resume")(resume)
    app.command("rollback")(rollback)
    app.command("status")(status)
    app.command("history")(history)
