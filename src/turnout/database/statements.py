"""A script's statements as turnout runs them, and the error for one it cannot split.

Kept apart from the splitters so each dialect's splitter can use them without importing
the others.
"""

from __future__ import annotations

from dataclasses import dataclass


class SqlSyntaxError(ValueError):
    """The script cannot be split: an unterminated quote or comment."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its position (1-based) and text without the semicolon."""

    index: int
    line: int
    text: str
    first_word: str

    def excerpt(self, limit: int = 160) -> str:
        """The statement on one line, shortened for messages."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= limit else flat[: limit - 3] + "..."
