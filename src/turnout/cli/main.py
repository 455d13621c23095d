"""The `turnout` command: builds the Typer app and maps errors to exit codes."""

from __future__ import annotations

import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

import typer

from turnout.cli.common import console
from turnout.errors import TurnoutError

app = typer.Typer(
    name="turnout",
    help="Run a production deployment runbook as a program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # command groups: each module adds its commands to `app`.
    from turnout.cli import (
        config_cmds,
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
    ):
        module.register(app)


def _crash_log(exc: BaseException) -> Path:
    folder = Path(tempfile.gettempdir()) / "turnout-crashes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; every error becomes one line and an exit code."""
    _register()
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
        console.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except Exception as exc:
        log = _crash_log(exc)
        console.print(f"internal error: {type(exc).__name__}: {exc} (traceback in {log})")
        return 1
    return 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
