"""Live progress: a Rich display in a terminal, one plain line per step otherwise."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.live import Live
from rich.table import Table

from turnout.cli.common import console
from turnout.text import first_line

if TYPE_CHECKING:
    from turnout.api import StepEvent

_MARKS = {
    "succeeded": "✓",
    "failed": "✗",
    "undone": "↶",
    "undo-failed": "✗",
    "running": "…",
    "undoing": "↶",
}


class Progress:
    """Receives engine events and shows them; use as a context manager."""

    def __init__(self, title: str, *, live: bool | None = None, quiet: bool = False) -> None:
        self.title = title
        self.quiet = quiet
        self.live_mode = console.is_terminal if live is None else live
        self._rows: dict[str, tuple[str, str, str, str]] = {}
        self._started = time.monotonic()
        self._note = ""
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        return self

    def _start_live(self) -> None:
        # Started with the first event, not on entry: what comes before the runbook runs
        # (a confirmation prompt, a refusal) is printed on a terminal without a live table.
        if self._live is None and self.live_mode and not self.quiet:
            self._started = time.monotonic()
            self._live = Live(
                self._render(), console=console, refresh_per_second=8, transient=False
            )
            self._live.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)

    def __call__(self, event: StepEvent) -> None:
        """Engine callback."""
        if self.quiet:
            return
        self._start_live()
        if event.status == "progress":
            self._note = event.message
            if self._live is None:
                console.print(f"    {event.message}", highlight=False)
        else:
            elapsed = f"{event.elapsed:.2f}s" if event.elapsed else ""
            # A failure's first line; the rest (a log tail) is told once, with the evidence.
            message = first_line(event.message)
            self._rows[event.step] = (event.phase, event.status, elapsed, message)
            if self._live is None and event.status != "running":
                mark = _MARKS.get(event.status, "·")
                line = f"{mark} {event.phase:<15} {event.step:<17} {event.status:<11} {elapsed:>7}"
                if message:
                    line += f"  {message}"
                console.print(line, highlight=False, markup=False)
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        total = time.monotonic() - self._started
        table = Table(title=f"{self.title} — {total:.1f}s", title_justify="left", expand=False)
        for column in ("phase", "step", "status", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("detail", no_wrap=True, overflow="ellipsis")
        for step, (phase, status, elapsed, message) in self._rows.items():
            table.add_row(phase, step, f"{_MARKS.get(status, '·')} {status}", elapsed, message[:80])
        if self._note:
            table.caption = self._note[:100]
        return table
