"""Which release package a version deploys from, checked before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from turnout.errors import PackageError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


def resolve_package(
    config: LoadedConfig, env: EnvironmentConfig, version: str, package: Path | None
) -> Path:
    """The release package (the one given, or the app's template), checked now.

    Its migration files are read now, so that a bad name, a duplicate or an unreadable
    file is bad input (exit 2) before any announcement, slot or lock.
    """
    if package is None:
        package = config.release_package(version)
    elif not package.exists():
        raise PackageError(f"{package}: release package for {version} not found")
    if env.database.url is not None and env.database.migration_command is not None:
        from turnout.database import locate
        from turnout.database.commands.migrator import command_migrator

        command_migrator(config, env, locate(config, env), package)  # its project file is there
    elif env.database.url is not None:
        from turnout.database import load_from_package, locate

        load_from_package(package, env.database.migration_folder, locate(config, env).engine)
    return package.resolve()
