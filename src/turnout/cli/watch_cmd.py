"""`turnout watch` (post-deployment monitoring with automatic rollback) and `turnout accept`
(keep a release whose verification could not decide)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    current_user,
    emit_json,
    load,
    open_store,
    say,
)
from turnout.clock import SystemClock
from turnout.errors import BadInput, TurnoutError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from '90', '90s', '30m' or '2h'."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise BadInput(f"--for {text!r}: expected a duration like 90s, 30m or 2h")
    return float(match.group(1)) * _UNIT[match.group(2)]


def watch(
    env: EnvOption,
    for_: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Watch this long from now (90s, 30m, 2h). Default: until the rollback window"
            " ends (analysis.watch_for after the swap; emergency_watch_for after an emergency).",
        ),
    ] = None,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep judging production through the rollback window; roll back on a regression."""
    from turnout.analysis.postdeploy import watch_environment

    duration = parse_duration(for_) if for_ is not None else None
    loaded = load(config)
    environment = loaded.env(env)
    store = open_store(loaded)
    try:
        document = watch_environment(
            loaded,
            environment,
            store,
            SystemClock(),
            actor=current_user(actor),
            duration=duration,
            progress=(lambda _m: None) if as_json else say,
        )
    except TurnoutError as exc:
        if as_json:
            emit_json(
                {
                    "status": "failed",
                    "exit_code": exc.exit_code,
                    **exc.details,
                    "summary": exc.message,
                }
            )
        raise
    finally:
        store.close()
    if as_json:
        emit_json({**document, "exit_code": 0})
    else:
        say(f"[green]✓[/] {document['summary']}")


def accept(
    env: EnvOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the release is kept without proof (audited).")
    ],
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep a release held because its verification could not decide (accepted unproven)."""
    from turnout.runbook.accept import accept as do_accept

    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        document = do_accept(loaded, environment, store, current_user(actor), reason=reason)
    if as_json:
        emit_json(document)
    else:
        say(f"[yellow]✓[/] {document['summary']}")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("watch")(watch)
    app.command("accept")(accept)
