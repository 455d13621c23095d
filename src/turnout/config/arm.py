"""`[environments.NAME.integrations.infra]` with `kind = "arm"`: the infrastructure phase as
an Azure Resource Manager deployment of a template to a resource group."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.secrets import Secret

OutputValue = str | int | float | bool


class ArmInfraConfig(Section):
    """An ARM template (JSON, or Bicep compiled by the `bicep` CLI) and its parameters,
    deployed to a resource group in Incremental mode and followed to the end."""

    kind: Literal["arm"]
    template: str = Field(min_length=1)
    """The template file: relative to turnout.toml, or a path inside the release package
    with `from_release = true`. A `.bicep` file is compiled with `bicep build --stdout`."""
    parameters: str | None = None
    """A deployment parameters file (`{"parameters": {"name": {"value": ...}}}`), found
    like the template; none: the template's defaults and `values`."""
    values: dict[str, OutputValue] = Field(default_factory=dict)
    """Parameter values set here (over the parameters file's); in strings {environment}
    and {version} are filled in."""
    secrets: dict[str, Secret] = Field(default_factory=dict)
    """Parameter values that are secrets (an admin password): env:NAME or
    keyvault://VAULT/NAME, read when the request is sent, never kept or shown."""
    from_release: bool = False
    """Read the template and parameters from the release package of the deployed version
    instead of next to turnout.toml."""
    resource_group: str = Field(min_length=1, max_length=90)
    subscription: str | None = None
    """Subscription id or env:NAME; default: the azure target's, else env:AZURE_SUBSCRIPTION_ID."""
    management_endpoint: str | None = None
    """Azure Resource Manager endpoint; default: the azure target's, else the public cloud's."""
    mode: Literal["Incremental", "Complete"] = "Incremental"
    """Incremental leaves resources the template does not name alone. Complete deletes
    them, which the what-if shows as deletes (refused unless allow_deletes)."""
    allow_deletes: bool = False
    """Whether a what-if that deletes resources may go ahead; false: the deployment is
    refused before anything changes."""
    expected_outputs: list[str] | dict[str, OutputValue] = Field(default_factory=list)
    """Outputs the deployment must produce: names, or names with the value each must have
    ({environment} and {version} filled in)."""
    expected_resources: list[str] = Field(default_factory=list)
    """Resources the deployment must have deployed, as TYPE/NAME (e.g.
    Microsoft.Web/sites/tesoro-production-app)."""
    timeout: float = Field(default=3600.0, gt=0.0, le=MAX_SECONDS)
    """Seconds to follow the deployment (and ARM's roll back after a failure)."""
    poll_interval: float = Field(default=5.0, gt=0.0, le=300.0)
    """Seconds between looks when ARM sends no Retry-After."""

    @field_validator("resource_group")
    @classmethod
    def _group_name(cls, value: str) -> str:
        if not re.fullmatch(r"[-\w.()]+", value) or value.endswith("."):
            raise ValueError("a resource group name of letters, digits, -, _, (, ) and .")
        return value

    @field_validator("management_endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("the management endpoint must be an https:// URL")
        return None if value is None else value.rstrip("/")

    @field_validator("expected_resources")
    @classmethod
    def _type_and_name(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = entry.strip("/").split("/")
            if len(parts) < 3 or "." not in parts[0]:
                raise ValueError(f"{entry!r} is not TYPE/NAME (e.g. Microsoft.Web/sites/my-app)")
        return value

    def expected_values(self) -> dict[str, OutputValue | None]:
        """Output name -> required value (None: any value, as long as it is there)."""
        if isinstance(self.expected_outputs, list):
            return dict.fromkeys(self.expected_outputs)
        return dict(self.expected_outputs)
