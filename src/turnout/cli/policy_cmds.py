"""Policy commands: window, approve, attest, postmortem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    OptionalEnvOption,
    console,
    current_user,
    emit_json,
    load,
    open_store,
    say,
)
from turnout.errors import BadInput

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


def approve(
    deployment_id: Annotated[int, typer.Argument(help="Deployment id (turnout status/history).")],
    as_: AsOption = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Why you approve.")] = None,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Record an approval of a deployment (nobody approves their own)."""
    from turnout.policy.approvals import record_approval

    config = load(config_path)
    who = current_user(as_)
    with open_store(config) as store:
        row = record_approval(config, store, deployment_id, who, comment)
        document = {
            "deployment": deployment_id,
            "approver": row.approver,
            "role": row.role,
            "comment": row.comment,
            "at": row.created_at.isoformat(),
        }
    if json_output:
        emit_json(document)
    else:
        say(
            f"approved deployment {deployment_id} as {row.approver} ({row.role or 'no role'});"
            " `turnout resume` continues it"
        )


def attest(
    item: Annotated[str, typer.Argument(help="Checklist item, e.g. code-reviewed.")],
    env: EnvOption,
    version: Annotated[str, typer.Option("--version", help="Release version it is about.")],
    as_: AsOption = None,
    note: Annotated[str | None, typer.Option("--note", help="Evidence: a link, a ticket.")] = None,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Record that you vouch for a checklist item of a release (source "attestation")."""
    from turnout.config.people import find_person
    from turnout.policy.checklist import normalise_item, record_attestation

    config = load(config_path)
    environment = config.env(env)
    key = normalise_item(item)
    who = current_user(as_)
    if config.root.people and find_person(config.root.people, who) is None:
        known = ", ".join(p.name for p in config.root.people)
        raise BadInput(f"{who} is not in `people` of {config.path} (known: {known})")
    with open_store(config) as store:
        record = record_attestation(store, environment.name, version, key, who, note)
    if json_output:
        emit_json(record)
    else:
        say(f"attested {key} for {version} on {environment.name} as {who}")


postmortem_app = typer.Typer(help="Post-mortems opened by emergency deployments.")


@postmortem_app.command("list")
def postmortem_list(
    env: OptionalEnvOption = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open post-mortems.")] = False,
    json_output: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Post-mortems, newest first."""
    config = load(config_path)
    if env is not None:
        config.env(env)
    with open_store(config, read_only=True) as store:
        rows = store.postmortems(env, open_only=open_only)
    docs: list[dict[str, Any]] = [
        {
            "id": r.id,
            "deployment": r.deployment_id,
            "environment": r.environment,
            "reason": r.reason,
            "opened_at": r.opened_at.isoformat(),
            "closed_at": r.closed_at.isoformat() if r.closed_at else None,
            "closed_by": r.closed_by,
            "link": r.link,
            "open": r.closed_at is None,
        }
        for r in rows
    ]
    if json_output:
        emit_json(docs)
        return
    if not docs:
        say("no post-mortems")
    for d in docs:
        state = "open" if d["open"] else f"closed by {d['closed_by']}: {d['link']}"
        say(
            f"#{d['id']} deployment {d['deployment']} ({d['environment']}), opened"
            f" {d['opened_at']}: {d['reason']} [{state}]"
        )


@postmortem_app.command("close")
def postmortem_close(
    postmortem_id: Annotated[int, typer.Argument(help="Post-mortem id (turnout postmortem list).")],
    link: Annotated[str, typer.Option("--link", help="URL of the written post-mortem.")],
    as_: AsOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Close a post-mortem with a link to its write-up."""
    parsed = urlparse(link)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise BadInput(f"--link: {link!r} is not an http(s) URL")
    config = load(config_path)
    who = current_user(as_)
    with open_store(config) as store:
        known = {p.id: p for p in store.postmortems()}
        found = known.get(postmortem_id)
        if found is None:
            raise BadInput(f"no post-mortem {postmortem_id}")
        if found.closed_at is not None:
            raise BadInput(f"post-mortem {postmortem_id} is already closed ({found.link})")
        store.close_postmortem(postmortem_id, who, link)
        store.audit(
            who,
            "postmortem.closed",
            environment=found.environment,
            deployment_id=found.deployment_id,
            postmortem=postmortem_id,
            link=link,
        )
    say(f"closed post-mortem {postmortem_id} ({link})")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("window")(window)
    app.command("approve")(approve)
    app.command("attest")(attest)
    app.add_typer(postmortem_app, name="postmortem")
