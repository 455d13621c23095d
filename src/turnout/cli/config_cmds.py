"""`turnout init` and `turnout check`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from turnout.cli.common import ConfigOption, JsonOption, emit_json, load, say
from turnout.errors import BadInput, ConfigError


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write turnout.toml.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    example: Annotated[
        str | None,
        typer.Option(help="Write a sample app with its turnout.toml instead (only: tesoro)."),
    ] = None,
) -> None:
    """Write a commented starter turnout.toml (or the tesoro sample app with --example)."""
    if example is not None:
        if example != "tesoro":
            raise BadInput(f"--example {example}: unknown example (known: tesoro)")
        from turnout.demo.sample import copy_example

        config = copy_example(directory)
        say(f"wrote the tesoro sample app and {config}; packages built in {directory / 'dist'}")
        return
    from turnout.config.loader import CONFIG_NAME

    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise BadInput(f"{target}: already exists (use --force to overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    starter = resources.files("turnout.config").joinpath("starter.toml").read_text(encoding="utf-8")
    target.write_text(starter, encoding="utf-8")
    say(f"wrote {target}; edit it, then run `turnout check`")


def check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration and what it needs on this machine; no side effects."""
    from turnout.config.problems import ConfigProblems, Problem
    from turnout.config.usable import runtime_problems

    try:
        loaded = load(config)
        problems = runtime_problems(loaded)
        if problems:
            raise ConfigProblems(str(loaded.path), problems)
    except ConfigError as exc:
        if as_json:
            found = (
                exc.problems if isinstance(exc, ConfigProblems) else [Problem(exc.key, exc.problem)]
            )
            emit_json(
                {
                    "file": exc.file,
                    "valid": False,
                    "problems": [{"key": p.key, "problem": p.text} for p in found],
                }
            )
        raise
    summary = {
        "file": str(loaded.path),
        "app": loaded.root.app.name,
        "environments": {name: env.target.kind for name, env in loaded.environments.items()},
        "valid": True,
    }
    if as_json:
        emit_json(summary)
    else:
        envs = ", ".join(f"{n} ({k})" for n, k in summary["environments"].items())  # type: ignore[attr-defined]
        say(f"{loaded.path}: valid — app {loaded.root.app.name}; environments: {envs}")


def register(app: typer.Typer) -> None:
    """Add the commands."""
    app.command("init")(init)
    app.command("check")(check)
