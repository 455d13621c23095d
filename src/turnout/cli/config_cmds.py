"""`turnout init` and `turnout check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from turnout.cli.common import ConfigOption, JsonOption, emit_json, say


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write turnout.toml.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    example: Annotated[
        str | None,
        typer.Option(help="Write a sample app with its turnout.toml instead (only: tesoro)."),
    ] = None,
) -> None:
    """Write a commented starter turnout.toml (or the tesoro sample app with --example)."""
    from turnout.api import init as write_starter

    written = write_starter(directory, force=force, example=example)
    if written.example is not None:
        say(
            f"wrote the {written.example} sample app and {written.config};"
            f" packages built in {written.packages}"
        )
        return
    say(f"wrote {written.config}; edit it, then run `turnout check`")


def check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration and what it needs on this machine; no side effects."""
    from turnout.api import check as check_config

    result = check_config(config)
    if as_json:
        emit_json(result.to_dict())
    if result.error is not None:
        raise result.error
    if not as_json:
        envs = ", ".join(f"{n} ({k})" for n, k in result.environments.items())
        say(f"{result.file}: valid — app {result.app}; environments: {envs}")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("init")(init)
    app.command("check")(check)
