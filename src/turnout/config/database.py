"""Database phase settings: migrations, backups, when to migrate."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from turnout.config.base import Section
from turnout.config.secrets import Secret


class DatabaseConfig(Section):
    """The application database that migrations run against."""

    url: str | None = None
    """SQLAlchemy-style URL without the password, e.g. sqlite:///data/app.db or
    postgresql://app@127.0.0.1:5432/app. None means the app has no database."""
    password: Secret | None = None
    """Secret reference for the database password (PostgreSQL)."""
    migrations: str = "migrations"
    """Folder of versioned SQL files inside the release package."""
    history_table: str = "__MigrationHistory"
    run: Literal["before-swap", "after-swap"] = "before-swap"
    backup_dir: Path | None = None
    """Where backups are written (default .turnout/backups/ENV)."""
    retention: int = Field(default=10, ge=1)
    """How many verified backups to keep per environment."""
