"""The app's own migration tool as the database phase uses it: ask, apply, verify.

Every command runs in the unpacked release (a directory package as it is, a zip file
unpacked once under the state folder), with an allow-listed environment, the database's
location in variables (never arguments) and the configured extra variables.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from turnout.childenv import child_environment, resolve_settings
from turnout.command_record import CommandRun
from turnout.database.commands.connection import connection_variables, secret_values
from turnout.database.commands.listing import ListingError, ToolStatus
from turnout.database.commands.presets import DEFAULT_PROJECT, ToolCommands, resolve
from turnout.database.commands.process import run_command
from turnout.database.driver import DatabaseError
from turnout.database.location import DatabaseLocation
from turnout.database.migrations import MigrationSet
from turnout.errors import PackageError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.migration_commands import MigrationCommands

LISTING_TIMEOUT = 120.0
"""How long a listing command may take (it only reads)."""


class CommandMigrationFailed(DatabaseError):
    """The apply (or verify) command failed: the message names it and its last lines."""

    def __init__(self, what: str, run: CommandRun) -> None:
        super().__init__(
            f"{what} `{run.shown()}` {run.outcome()}; its last lines:\n{run.last_lines()}",
            details={"command": run.model_dump(mode="json")},
        )
        self.run = run


@dataclass(frozen=True)
class ReleaseFolder:
    """Where a release's files are for its migration commands."""

    path: Path


def release_folder(
    config: LoadedConfig, env: EnvironmentConfig, package: Path, project: str | None
) -> ReleaseFolder:
    """The package's folder (the one top-level folder of it, when the project file is
    there), a zip file unpacked once under the state folder."""
    if not package.exists():
        raise PackageError(f"{package}: release package not found")
    if package.is_dir():
        root = package
    else:
        from turnout.targets.local.packages import unpack_release

        root = unpack_release(package, config.state_dir / "releases" / env.name, package.stem).path
    if project is not None and not (root / project).exists():
        children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(children) == 1 and (children[0] / project).exists():
            root = children[0]
    return ReleaseFolder(root.resolve())


class CommandMigrator:
    """One environment's database migrated by its app's tool, from one release."""

    def __init__(
        self,
        settings: MigrationCommands,
        location: DatabaseLocation,
        release: ReleaseFolder,
        *,
        key: str,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.settings = settings
        self.location = location
        self.release = release
        self.key = key
        self.progress = progress
        self.commands: ToolCommands = resolve(settings, release.path)
        self.cwd = release.path / settings.workdir
        project = settings.project or DEFAULT_PROJECT[settings.tool]
        if project is not None and not (release.path / project).exists():
            raise PackageError(
                f"{release.path}: the release has no {project} ({key}.project names the"
                f" {settings.tool} project file inside the package)"
            )

    @property
    def tool(self) -> str:
        """The tool's name as configured (django, alembic, flyway, command)."""
        return self.settings.tool

    def environ(self) -> dict[str, str]:
        """The commands' environment: allow-listed, the database's variables, the extras."""
        own = resolve_settings(self.settings.env, os.environ, f"{self.key}.env")
        database = connection_variables(
            self.location, self.commands.url_style, self.commands.url_variable, key=self.key
        )
        return child_environment({**database, **own})

    def _run(self, argv: tuple[str, ...], timeout: float, *, show: bool) -> tuple[CommandRun, str]:
        return run_command(
            argv,
            cwd=self.cwd,
            environ=self.environ(),
            timeout=timeout,
            secrets=secret_values(self.location),
            progress=self.progress if show else (lambda _line: None),
        )

    def status(self) -> ToolStatus:
        """What the tool says is applied and pending now (ListingError if it cannot say)."""
        outputs: list[str] = []
        for argv in self.commands.listing.commands:
            run, stdout = self._run(argv, LISTING_TIMEOUT, show=False)
            if not run.ok:
                raise ListingError(
                    f"asking {self.tool} what is pending: `{run.shown()}` {run.outcome()};"
                    f" its last lines:\n{run.last_lines()}",
                    details={"command": run.model_dump(mode="json")},
                )
            outputs.append(stdout)
        return self.commands.listing.read(outputs)

    def apply(self) -> CommandRun:
        """Run the apply command; CommandMigrationFailed unless it exits 0 in time."""
        self.progress(f"running {self.commands.describe()} in {self.cwd}")
        run, _ = self._run(self.commands.apply, self.settings.timeout_seconds, show=True)
        if not run.ok:
            raise CommandMigrationFailed("the migration command", run)
        return run

    def verify_command(self) -> CommandRun | None:
        """Run the verify command, if one is configured; CommandMigrationFailed if it fails."""
        if self.commands.verify is None:
            return None
        self.progress(f"verifying with {' '.join(self.commands.verify)}")
        run, _ = self._run(self.commands.verify, self.settings.timeout_seconds, show=True)
        if not run.ok:
            raise CommandMigrationFailed("the verify command", run)
        return run

    def verify_sql(self) -> MigrationSet | None:
        """The configured verify.sql, as a set with no migrations (run like SQL files')."""
        if self.settings.verify_sql is None:
            return None
        path = self.release.path / self.settings.verify_sql
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise PackageError(f"{path}: cannot read {self.key}.verify_sql: {exc}") from exc
        return MigrationSet(str(path), [], text, str(path))


def command_migrator(
    config: LoadedConfig,
    env: EnvironmentConfig,
    location: DatabaseLocation,
    package: Path,
    progress: Callable[[str], None] = lambda _line: None,
) -> CommandMigrator | None:
    """The environment's migration tool for a release, or None when it migrates SQL files."""
    settings = env.database.migration_command
    if settings is None:
        return None
    project = settings.project or DEFAULT_PROJECT[settings.tool]
    release = release_folder(config, env, package, project)
    key = f"environments.{env.name}.database.migrations"
    return CommandMigrator(settings, location, release, key=key, progress=progress)
