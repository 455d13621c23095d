"""Every problem of a configuration file at once: one error that lists them all."""

from __future__ import annotations

from dataclasses import dataclass

from turnout.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: the key (dotted path) and what is wrong."""

    key: str | None
    text: str

    def line(self) -> str:
        """`key: text`, or only the text for a problem of the whole file."""
        return f"{self.key}: {self.text}" if self.key else self.text


class ConfigProblems(ConfigError):
    """The configuration has one or more problems; the message names each with its key."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigProblems needs at least one problem")
        first = problems[0]
        super().__init__(file, first.key, first.text)
        self.problems = list(problems)
        if len(problems) > 1:
            listed = "\n".join(f"  {problem.line()}" for problem in problems)
            self.message = f"{file}: {len(problems)} problems:\n{listed}"
            self.args = (self.message,)
        self.details["problems"] = [{"key": p.key, "problem": p.text} for p in problems]
