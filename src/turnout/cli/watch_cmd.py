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
    emit_json,
    say,
)
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
    from turnout.api import watch as watch_production

    duration = parse_duration(for_) if for_ is not None else None
    try:
        result = watch_production(
            env, duration=duration, actor=actor, config=config, progress=None if as_json else say
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
    if as_json:
        emit_json({**result.to_dict(), "exit_code": 0})
    else:
        say(f"[green]✓[/] {result.summary}")


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
    from turnout.api import accept as keep_held

    result = keep_held(env, reason=reason, actor=actor, config=config)
    if as_json:
        emit_json(result.to_dict())
    else:
        say(f"[yellow]✓[/] {result.summary}")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("watch")(watch)
    app.command("accept")(accept)
