"""What every command shares: options, loading configuration, output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from turnout.text import printable

# Rich's tables and text are imported by what renders them, not for every command's start.
if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text


class SafeConsole(Console):
    """A Rich console that shows control characters in any text it renders as escapes.

    Every string on its way to the terminal passes through `render_str` (printed text,
    table cells, the live progress display), so text from elsewhere (an app's log, an HTTP
    answer) can never move the cursor or recolour the terminal."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


# Human output goes to stderr so stdout stays clean for --json documents.
console = SafeConsole(stderr=True, highlight=False, soft_wrap=True)

EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment name from turnout.toml.")]
OptionalEnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Only this environment.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to turnout.toml (default: nearest one upwards).",
        envvar="TURNOUT_CONFIG",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
AsOption = Annotated[
    str | None, typer.Option("--as", help="Who is acting (default: TURNOUT_USER or the OS user).")
]


def current_user(given: str | None = None) -> str:
    """The acting person: --as, TURNOUT_USER, or the OS user."""
    from turnout.api.context import acting_user

    return acting_user(given)


def emit_json(document: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """One line of human output (stderr)."""
    console.print(message)


def print_table(table: Table) -> None:
    """A table on stderr. Without a terminal (a pipe, a CI log) there is no width to fit,
    so it is printed at its natural width instead of cutting or wrapping its columns."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(1_000_000)).maximum
    # print(width=...) is capped at the console's width, so widen the console itself.
    saved = console.width
    console.width = max(natural, saved)
    try:
        console.print(table, crop=False)
    finally:
        console.width = saved
