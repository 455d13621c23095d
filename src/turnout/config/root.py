"""The whole `turnout.toml`: app, people, default sections and environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SerializeAsAny, field_validator

from turnout.config.analysis import AnalysisConfig
from turnout.config.base import Section
from turnout.config.canary import CanaryConfig
from turnout.config.checks import ChecksConfig
from turnout.config.database import DatabaseConfig
from turnout.config.integrations import IntegrationsConfig
from turnout.config.people import Person
from turnout.config.policy import PolicyConfig
from turnout.config.targets import TargetSettings
from turnout.config.templates import check_template

# Sections that may be set at the top level (defaults for every environment) and
# overridden per environment; an environment's table is deep-merged over the default.
MERGED_SECTIONS = ("checks", "database", "analysis", "policy", "integrations")


class AppConfig(Section):
    """The application being deployed."""

    name: str = Field(min_length=1)
    repository: Path = Path()
    """Git repository of the app (release tags, deployments.log), relative to this file."""
    package: str = "dist/{name}-{version}.zip"
    """Where `deploy --version V` finds the package when --package is not given,
    relative to this file; {name} and {version} are filled in."""
    changes: str = ""
    """Default change summary for announcements (deploy --changes overrides)."""
    eta_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)

    @field_validator("package")
    @classmethod
    def _package_template(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty package path")
        return check_template(value, ("name", "version"))


class EnvironmentConfig(Section):
    """One environment (production, staging, ...) with every section resolved."""

    name: str = ""
    target: SerializeAsAny[TargetSettings]
    """Where the app runs: the model of the installed target its `kind` names (the loader
    validates the table with it before the environment)."""
    staging_environment: str | None = None
    """Environment whose verified history stands for "staging tested" (checklist)."""
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)
    canary: CanaryConfig | None = None
    """The canary phase before the swap (`[environments.NAME.canary]`); none by default."""


class TurnoutConfig(Section):
    """The top level of `turnout.toml`."""

    app: AppConfig
    people: list[Person] = Field(default_factory=list)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    integrations: IntegrationsConfig = Field(default_factory=IntegrationsConfig)
    environments: dict[str, dict[str, Any]] = Field(min_length=1)
    """Raw environment tables; validated one by one into EnvironmentConfig by the loader."""

    @field_validator("people")
    @classmethod
    def _people_once(cls, value: list[Person]) -> list[Person]:
        # Approvals and on-call rosters find a person by any of their names: a name two
        # people answer to would make "who approved" ambiguous.
        owner: dict[str, int] = {}
        for index, person in enumerate(value):
            for identity in sorted(person.identities()):
                first = owner.setdefault(identity, index)
                if first != index:
                    raise ValueError(
                        f"people[{index}] ({person.name}) and people[{first}]"
                        f" ({value[first].name}) both answer to {identity!r}"
                    )
        return value
