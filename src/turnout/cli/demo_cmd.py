"""`turnout demo`: the whole runbook story on this machine, unattended."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from turnout.cli.common import console, say

# The story imports the whole engine; only `turnout demo` pays for that.
if TYPE_CHECKING:
    from turnout.api.report_figures import ReportResult
    from turnout.cli.progress import Progress


class ConsoleReporter:
    """Tells the story on the terminal (stderr), with live progress per deployment."""

    def section(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def line(self, text: str) -> None:
        console.print(text, markup=False, highlight=False)

    def deployment(self, title: str) -> Progress:
        from turnout.cli.progress import Progress

        return Progress(title)

    def history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        from turnout.cli.reports import print_history

        print_history(rows)

    def report(self, result: ReportResult) -> None:
        from turnout.cli.report_cmd import print_report

        print_report(result)


def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Working directory (default: a new temporary one).")
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(help="Leave the slot hosts running at the end (stop: turnout host down)."),
    ] = False,
    rate: Annotated[float, typer.Option(help="Steady traffic, requests per second.")] = 100.0,
) -> None:
    """Run the whole runbook story on this machine, unattended."""
    from turnout.demo.story import Story

    workdir = directory or Path(tempfile.mkdtemp(prefix="turnout-demo-"))
    code = Story(workdir.resolve(), ConsoleReporter(), keep=keep, rate=rate).run()
    if code:
        say("[red]the demo did not behave as expected[/] (see the result above)")
        raise typer.Exit(code)
    say(f"[green]the demo behaved as expected[/]; its files are in {workdir}")


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("demo")(demo)
