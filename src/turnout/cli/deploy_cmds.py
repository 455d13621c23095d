"""Deployment commands: deploy, plan, resume, rollback, status, history."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the commands."""
    return None
