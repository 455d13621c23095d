"""The `turnout` command: builds the Typer app and maps errors to exit codes."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

import typer
from rich.markup import escape

from turnout.cli.common import console
from turnout.errors import TurnoutError

app = typer.Typer(
    name="turnout",
    help="Run a production deployment runbook as a program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: flags without a `<bool>` type column, and no Markdown renderer to import.
    rich_markup_mode=None,
)


# The reading commands people run most register only their own module's commands: they
# start without importing, and Typer without building, every other command. (Each of these
# modules has several commands, so Typer still expects the command's name.)
FAST_COMMANDS = {"status": "deploy_cmds", "history": "deploy_cmds", "window": "policy_cmds"}


def _group() -> None:
    """No options of its own: the commands have them."""


def _register(argv: list[str]) -> None:
    # command groups: each module adds its commands to `app`.
    fast = FAST_COMMANDS.get(argv[0]) if argv else None
    if fast is not None:
        import_module(f"turnout.cli.{fast}").register(app)
        # Typer builds every registered command's parameters before it parses: only the
        # command run is kept. The empty callback keeps the app a group, so the command's
        # name is still expected (a lone command would take it for an argument).
        app.registered_commands = [c for c in app.registered_commands if c.name == argv[0]]
        app.registered_groups = []
        app.callback()(_group)
        return
    from turnout.cli import (
        audit_cmd,
        config_cmds,
        dashboard_cmd,
        db_cmd,
        demo_cmd,
        deploy_cmds,
        doctor_cmd,
        host_cmd,
        incident_cmd,
        policy_cmds,
        report_cmd,
        watch_cmd,
    )

    for module in (
        config_cmds,
        db_cmd,
        deploy_cmds,
        demo_cmd,
        report_cmd,
        doctor_cmd,
        host_cmd,
        incident_cmd,
        policy_cmds,
        watch_cmd,
        audit_cmd,
        dashboard_cmd,
    ):
        module.register(app)


def _crash_log(exc: BaseException) -> Path:
    # One private folder per user: tracebacks can show paths and values, and another
    # user's folder of the same name would not be writable anyway.
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    folder = Path(tempfile.gettempdir()) / f"turnout-crashes-{user}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f"crash-{datetime.now(UTC):%Y%m%dT%H%M%S}-", suffix=".log", dir=folder
    )
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(traceback.format_exception(exc)))
    return Path(name)


def main(argv: list[str] | None = None, *, resume_collection: bool = False) -> int:
    """Entry point: run a command; every error becomes one line and an exit code.

    `resume_collection`: the cycle collector was paused for the start (cli.entry); it is
    resumed before the command runs, except for the short reading commands."""
    args = sys.argv[1:] if argv is None else argv
    _register(args)
    if resume_collection and not (args and args[0] in FAST_COMMANDS):
        gc.enable()
    try:
        # Standalone mode: usage errors are printed by Typer and end with exit 2, and every
        # command's exit code arrives here as SystemExit.
        app(args=argv, prog_name="turnout")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        console.print(str(exc.code))
        return 1
    except TurnoutError as exc:
        console.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except Exception as exc:
        log = _crash_log(exc)
        console.print(
            f"internal error: {type(exc).__name__}: {exc} (traceback in {log})", markup=False
        )
        return 1
    return 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
