"""People and their roles (who may approve what)."""

from __future__ import annotations

from pydantic import Field

from turnout.config.base import Section


class Person(Section):
    """Someone who deploys, approves or is on call."""

    name: str
    roles: list[str] = Field(default_factory=list)
    email: str | None = None
    github: str | None = None
    slack: str | None = None
