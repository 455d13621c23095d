"""What a command turnout ran for the app did: its arguments, exit, time and last lines.

Kept apart from the code that runs commands so that step outputs (runbook/outputs.py)
can hold the record without importing the database package.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CommandRun(BaseModel):
    """What one command did: its arguments (never a secret), exit code, time, last lines."""

    model_config = ConfigDict(frozen=True)

    argv: list[str]
    cwd: str
    exit_code: int | None
    """None: it was stopped at its deadline."""
    seconds: float
    output: list[str]
    """Its last lines (stdout and stderr as they came), secrets replaced by ***."""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """It exited 0 within its deadline."""
        return self.exit_code == 0 and not self.timed_out

    def shown(self) -> str:
        """The command as people read it."""
        return " ".join(self.argv)

    def last_lines(self, count: int = 10) -> str:
        """Its last lines, joined for a message."""
        return "\n".join(self.output[-count:])

    def outcome(self) -> str:
        """How it ended, in words."""
        if self.timed_out:
            return f"was stopped after {self.seconds:.0f} s (its timeout)"
        return f"exited with {self.exit_code}"
