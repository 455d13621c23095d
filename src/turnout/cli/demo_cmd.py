"""`turnout demo`: the whole runbook story on this machine."""

from __future__ import annotations

import typer

from turnout.cli.common import say


def demo() -> None:
    """Run the whole runbook story on this machine, unattended."""
    say("turnout demo: not yet — the sample app and the demo story are still being built.")


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("demo")(demo)
