"""Policy commands: window, approve, attest, postmortem."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    OptionalEnvOption,
    console,
    emit_json,
    say,
)

# The policy engine (calendars, holidays, gates) is imported by the command that uses it.
if TYPE_CHECKING:
    from turnout.api import WindowResult

AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Judge this instant instead of now: ISO 8601, e.g. 2026-11-17T10:30"
        " (local to the environment's timezone) or 2026-11-17T18:30Z.",
    ),
]


def window(
    env: EnvOption,
    at: AtOption = None,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """The window verdict, every rule that fired, and the next best and acceptable start."""
    from turnout.api import window as window_verdict

    result = window_verdict(env, at=at, config=config_path)
    if json_output:
        emit_json(result.to_dict())
        return
    _print_verdict(result)


def _print_verdict(result: WindowResult) -> None:
    name, verdict, enforced = result.environment, result.verdict, result.enforced
    colour = {"best": "green", "acceptable": "green", "avoid": "yellow", "frozen": "red"}
    kind = verdict.kind.value
    say(
        f"[bold {colour[kind]}]{kind}[/] for {name} at {verdict.at:%a %Y-%m-%d %H:%M %Z}"
        + ("" if enforced else " (shown, not enforced: policy.enforce_window = false)")
    )
    for rule in verdict.rules:
        # soft_wrap: a reason stays on one line however narrow the terminal.
        console.print(f"  {rule.effect.value:<10} {rule.rule:<24} {rule.reason}", soft_wrap=True)
    for label, value in (
        ("next best", verdict.next_best),
        ("next acceptable", verdict.next_acceptable),
    ):
        say(f"  {label}: {value:%a %Y-%m-%d %H:%M %Z}" if value else f"  {label}: none found")
    if not enforced:
        say(
            f"  deployments to {name} go ahead whatever this verdict; active incidents still freeze"
        )


KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="TURNOUT_SIGNING_KEY",
        help="Your SSH key to sign with: a private key file, or the .pub of a key in"
        " ssh-agent (required where only signed decisions count).",
    ),
]


def approve(
    deployment_id: Annotated[int, typer.Argument(help="Deployment id (turnout status/history).")],
    as_: AsOption = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Why you approve.")] = None,
    key: KeyOption = None,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Record an approval of a deployment (nobody approves their own); --as names whose
    key signs it, the signature proves it."""
    from turnout.api import approve as record_approval

    approval = record_approval(
        deployment_id, comment=comment, actor=as_, signing_key=key, config=config_path
    )
    if json_output:
        emit_json(approval.to_dict())
    else:
        kind = "signed" if approval.signed else "unsigned"
        say(
            f"approved deployment {deployment_id} as {approval.approver}"
            f" ({approval.role or 'no role'}, {kind}); `turnout resume` continues it"
        )


def attest(
    item: Annotated[str, typer.Argument(help="Checklist item, e.g. code-reviewed.")],
    env: EnvOption,
    version: Annotated[str, typer.Option("--version", help="Release version it is about.")],
    as_: AsOption = None,
    note: Annotated[str | None, typer.Option("--note", help="Evidence: a link, a ticket.")] = None,
    key: KeyOption = None,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Record that you vouch for a checklist item of a release (source "attestation");
    --as names whose key signs it."""
    from turnout.api import attest as record_attestation

    record = record_attestation(
        item, env, version, note=note, actor=as_, signing_key=key, config=config_path
    )
    if json_output:
        emit_json(record.to_dict())
    else:
        kind = "signed" if record.signed else "unsigned"
        say(f"attested {record.item} for {version} on {record.environment} as {record.by} ({kind})")


postmortem_app = typer.Typer(help="Post-mortems opened by emergency deployments.")


@postmortem_app.command("list")
def postmortem_list(
    env: OptionalEnvOption = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open post-mortems.")] = False,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Post-mortems, newest first."""
    from turnout.api import postmortems

    found = postmortems(env, open_only=open_only, config=config_path)
    if json_output:
        emit_json(found.to_dict())
        return
    if not found.postmortems:
        say("no post-mortems")
    for d in found.postmortems:
        state = "open" if d.open else f"closed by {d.closed_by}: {d.link}"
        say(
            f"#{d.id} deployment {d.deployment} ({d.environment}), opened"
            f" {d.opened_at}: {d.reason} [{state}]"
        )


@postmortem_app.command("close")
def postmortem_close(
    postmortem_id: Annotated[int, typer.Argument(help="Post-mortem id (turnout postmortem list).")],
    link: Annotated[str, typer.Option("--link", help="URL of the written post-mortem.")],
    as_: AsOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Close a post-mortem with a link to its write-up."""
    from turnout.api import close_postmortem

    close_postmortem(postmortem_id, link=link, actor=as_, config=config_path)
    say(f"closed post-mortem {postmortem_id} ({link})")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("window")(window)
    app.command("approve")(approve)
    app.command("attest")(attest)
    app.add_typer(postmortem_app, name="postmortem")
