"""What `turnout check` finds beyond the file itself: what would fail when a command runs here.

The loader checks the file (every command refuses a bad one); these checks look at this
machine: secret references that are not set and directories turnout could not write.
"""

from __future__ import annotations

import os
from pathlib import Path

from turnout.config.loader import LoadedConfig
from turnout.config.problems import Problem
from turnout.config.targets import LocalTargetConfig


def unset_secrets(config: LoadedConfig) -> list[Problem]:
    """Every secret reference whose environment variable is not set (each key once)."""
    seen: set[str] = set()
    problems: list[Problem] = []
    for key, ref in config.secret_refs():
        if key in seen or ref.is_available():
            continue
        seen.add(key)
        problems.append(Problem(key, f"secret reference {ref} is not set in the environment"))
    return problems


def directory_problem(path: Path) -> str | None:
    """Why turnout could not keep files in `path` (created when missing), or None."""
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a directory"
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{path} cannot be created: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        return f"{path} {what} by this user"
    return None


def unusable_directories(config: LoadedConfig) -> list[Problem]:
    """The state directories (turnout's own and each local slot host's) it could not use."""
    wanted: list[tuple[str | None, Path]] = [(None, config.state_dir)]
    for name, env in config.environments.items():
        target = env.target
        if isinstance(target, LocalTargetConfig) and target.state_dir is not None:
            where = f"environments.{name}.target.state_dir"
            wanted.append((where, config.resolve_path(target.state_dir)))
        if env.database.backup_dir is not None:
            where = f"environments.{name}.database.backup_dir"
            wanted.append((where, config.resolve_path(env.database.backup_dir)))
    problems: list[Problem] = []
    for key, path in wanted:
        problem = directory_problem(path)
        if problem is not None:
            problems.append(Problem(key, f"unusable directory: {problem}"))
    return problems


def runtime_problems(config: LoadedConfig) -> list[Problem]:
    """Everything on this machine that would make a command with this configuration fail."""
    return [*unset_secrets(config), *unusable_directories(config)]
