"""Starting a project: write a starter configuration (or the sample app), and check one."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from turnout.api.context import ConfigSource, load
from turnout.errors import BadInput, ConfigError

EXAMPLES = ("tesoro",)


@dataclass(frozen=True)
class InitResult:
    """The configuration written, and with an example, where its packages were built."""

    config: Path
    example: str | None = None
    packages: Path | None = None


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, and its key (None: the whole file)."""

    key: str | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"key": self.key, "problem": self.problem}


@dataclass(frozen=True)
class CheckResult:
    """Whether the configuration is valid: the app and each environment's target kind, or
    every problem found (and the error `turnout check` ends with, exit 2)."""

    file: str
    valid: bool
    app: str | None = None
    environments: dict[str, str] = field(default_factory=dict)
    problems: tuple[ConfigProblem, ...] = ()
    error: ConfigError | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout check --json` prints)."""
        if not self.valid:
            return {
                "file": self.file,
                "valid": False,
                "problems": [p.to_dict() for p in self.problems],
            }
        return {
            "file": self.file,
            "app": self.app,
            "environments": dict(self.environments),
            "valid": True,
        }


def init(directory: Path, *, force: bool = False, example: str | None = None) -> InitResult:
    """Write a commented starter turnout.toml in `directory`, or the sample app with its own."""
    if example is not None:
        if example not in EXAMPLES:
            raise BadInput(f"--example {example}: unknown example (known: {', '.join(EXAMPLES)})")
        from turnout.demo.sample import copy_example

        return InitResult(copy_example(directory), example, directory / "dist")
    from turnout.config.loader import CONFIG_NAME

    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise BadInput(f"{target}: already exists (use --force to overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    starter = resources.files("turnout.config").joinpath("starter.toml").read_text(encoding="utf-8")
    target.write_text(starter, encoding="utf-8")
    return InitResult(target)


def check(config: ConfigSource = None) -> CheckResult:
    """Validate the configuration and what it needs on this machine; no side effects. Every
    problem is reported, none raised."""
    from turnout.config.problems import ConfigProblems, Problem
    from turnout.config.usable import runtime_problems

    try:
        loaded = load(config)
        found = runtime_problems(loaded)
        if found:
            raise ConfigProblems(str(loaded.path), found)
    except ConfigError as exc:
        problems = (
            exc.problems if isinstance(exc, ConfigProblems) else [Problem(exc.key, exc.problem)]
        )
        return CheckResult(
            exc.file,
            valid=False,
            problems=tuple(ConfigProblem(p.key, p.text) for p in problems),
            error=exc,
        )
    return CheckResult(
        str(loaded.path),
        valid=True,
        app=loaded.root.app.name,
        environments={name: env.target.kind for name, env in loaded.environments.items()},
    )
