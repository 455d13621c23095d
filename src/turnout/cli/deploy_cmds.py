"""Deployment commands: deploy, plan, resume, rollback, status, history."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    OptionalEnvOption,
    current_user,
    emit_json,
    load,
    open_store,
    say,
)
from turnout.errors import BadInput, PackageError
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, Release
from turnout.versions import check_version

# The engine, policy and store are imported by the commands that use them, so that
# `status` and `history` start without the engine's import time.
if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.runbook.engine import Engine, Result
    from turnout.store import Store

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


def resolve_package(
    config: LoadedConfig, env: EnvironmentConfig, version: str, package: Path | None
) -> Path:
    """The release package (--package, or the app's template), checked before anything runs.

    Its migration files are read now, so that a bad name, a duplicate or an unreadable
    file is bad input (exit 2) before any announcement, slot or lock.
    """
    if package is None:
        template = config.root.app.package
        package = config.resolve_path(template.format(name=config.root.app.name, version=version))
    if not package.exists():
        raise PackageError(f"{package}: release package for {version} not found")
    if env.database.url is not None:
        from turnout.database import load_from_package, locate

        load_from_package(package, env.database.migrations, locate(config, env).engine)
    return package.resolve()


def _finish(result: Result, as_json: bool, config: LoadedConfig) -> None:
    from rich.markup import escape

    from turnout.history import deployment_summary
    from turnout.text import first_line

    with open_store(config) as store:
        document = deployment_summary(store, result.deployment_id)
    if as_json:
        emit_json({**document, "exit_code": result.exit_code})
    elif result.exit_code == 0:
        say(f"[green]✓[/] deployment {result.deployment_id}: {escape(result.message)}")
    else:
        # The first line only: a log tail after it was shown once, with the evidence.
        headline = first_line(result.message)
        outcome = result.status.value
        if result.status is DeploymentStatus.ROLLED_BACK and not _traffic_moved(document):
            # What was started was undone, but production never changed: not a rollback.
            outcome = "failed before any traffic moved, production untouched"
            headline = headline.removesuffix("; rolled back")
        say(f"[red]✗[/] deployment {result.deployment_id} {outcome}: {escape(headline)}")
        say(f"  see `turnout status --env {document['environment']}`")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _traffic_moved(document: dict[str, Any]) -> bool:
    """Whether the deployment's swap ran (a plan without one, e.g. infra, counts as moved)."""
    swap = next((s["status"] for s in document.get("steps", []) if s["step"] == "swap"), None)
    return swap not in {"pending", "skipped"}


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
    from turnout.cli.progress import Progress
    from turnout.runbook.engine import Engine

    loaded = load(config)
    environment = loaded.env(env)
    if emergency and not reason:
        raise BadInput("--emergency needs --reason TEXT")
    if outside_window and not reason:
        raise BadInput("--outside-window needs --reason TEXT")
    release = Release(version, resolve_package(loaded, environment, version, package))
    confirm = sys.stdin.isatty() and not yes and not as_json
    if confirm and not typer.confirm(f"Deploy {version} to {env}?"):
        raise BadInput("not confirmed; nothing was changed")
    deployer = current_user(actor)
    data: dict[str, Any] = {}
    if outside_window:
        data = {"outside_window": True, "outside_window_reason": reason}
    if fixes_incident:
        data["fixes_incidents"] = [str(i) for i in fixes_incident]
    title = f"deploy {version} to {env}"
    with open_store(loaded) as store, Progress(title, quiet=as_json) as progress:
        engine = Engine(loaded, environment, store, on_event=progress)
        result = engine.deploy(
            release,
            kind,
            deployer,
            emergency=emergency,
            reason=reason,
            changes=changes or loaded.root.app.changes,
            data=data,
        )
        if result.status is DeploymentStatus.WAITING_APPROVAL and wait_approval:
            result = _wait_and_resume(engine, store, result, deployer, wait_approval)
    _finish(result, as_json, loaded)


def _wait_and_resume(
    engine: Engine, store: Store, result: Result, deployer: str, timeout: float
) -> Result:
    """Poll for a new approval until `timeout`, then resume (which re-runs the gate)."""
    say(f"waiting up to {timeout:g} s for an approval of deployment {result.deployment_id}")
    known = len(store.approvals(result.deployment_id))
    deadline = engine.clock.monotonic() + timeout
    while engine.clock.monotonic() < deadline:
        if len(store.approvals(result.deployment_id)) > known:
            return engine.resume(deployer) or result
        engine.clock.sleep(2.0)
    return result


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

    from turnout.cli.progress import Progress
    from turnout.runbook.engine import Engine

    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store, Progress(f"resume {env}", quiet=as_json) as progress:
        engine = Engine(loaded, environment, store, on_event=progress)
        result = engine.resume(current_user(actor), force_unlock=force_unlock)
        latest = store.deployments(env, limit=1) if result is None else []
    if result is not None:
        _finish(result, as_json, loaded)
        return
    held = latest[0] if latest and latest[0].status == DeploymentStatus.NEEDS_PERSON.value else None
    if as_json:
        emit_json({"environment": env, "resumed": None, "needs_person": held.id if held else None})
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
    raise typer.Exit(5)


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

    from turnout.analysis.budget import evidence_budget
    from turnout.policy import DeploymentFlags, evaluate_gates
    from turnout.runbook.engine import Engine
    from turnout.runbook.plan import plan_steps
    from turnout.runbook.steps import load_step

    loaded = load(config)
    environment = loaded.env(env)
    names = plan_steps(environment, kind)
    steps = [{"step": n, "phase": load_step(n).phase, "gate": load_step(n).gate} for n in names]
    deployer = current_user(actor)
    release_package = resolve_package(loaded, environment, version, package)
    with open_store(loaded, read_only=True) as store:
        info = DeploymentInfo(
            id="0",
            environment=env,
            version=version,
            type=kind,
            deployer=deployer,
            created_at=store.now(),
            package=release_package,
            previous_version=Engine(loaded, environment, store).last_verified_version(),
            emergency=emergency,
            reason=reason,
        )
        flags = DeploymentFlags(
            deployer=deployer,
            emergency=emergency,
            reason=reason,
            outside_window=outside_window,
            outside_window_reason=reason if outside_window else None,
            fixes_incidents=tuple(fixes_incident or ()),
        )
        gates = [g.to_dict() for g in evaluate_gates(loaded, environment, store, info, flags=flags)]
        if "stage" in names:  # what the deployment's first step, preflight, would say
            from turnout.runbook.steps.preflight import preflight_gate

            gates.insert(0, preflight_gate(loaded, environment, store, info).to_dict())
    blocking = [g for g in gates if g.get("blocking")]
    document: dict[str, Any] = {
        "environment": env,
        "version": version,
        "type": kind.value,
        "steps": steps,
        "gates": gates,
        "would_proceed": not blocking,
        "window_enforced": environment.policy.enforce_window,
    }
    budget = evidence_budget(loaded, environment)
    document["evidence_budget"] = budget.to_dict() if budget is not None else None
    # --check: the same exit code a refused deploy ends with, so CI can stop before trying.
    refused = 3 if check and blocking else 0
    if as_json:
        emit_json(document)
        if refused:
            raise typer.Exit(refused)
        return
    say(f"plan: {kind.value} deployment of {version} to {env}")
    for index, item in enumerate(steps, 1):
        say(f"  {index:>2}. {item['phase']:<15} {item['step']}{'  (gate)' if item['gate'] else ''}")
    say("gates:")
    for gate in gates:
        mark = "✗" if gate.get("blocking") else "·"
        name = gate.get("item") or gate["gate"]
        say(f"  {mark} {name:<20} {gate['verdict']:<15} {gate['summary']}")
    if not environment.policy.enforce_window:
        say(
            f"  the window verdict is shown, not enforced, on {env}"
            " (policy.enforce_window = false); active incidents still freeze"
        )
    if budget is not None:
        say("evidence budget:")
        for line in budget.lines():
            say(f"  {escape(line)}")
    if blocking:
        held = ", ".join(g.get("item") or g["gate"] for g in blocking)
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
    from turnout.runbook.rollback import rollback as do_rollback

    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        outcome = do_rollback(loaded, environment, store, current_user(actor), to=to, reason=reason)
    if as_json:
        emit_json(outcome)
    else:
        say(f"[green]✓[/] {outcome['summary']}")


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
