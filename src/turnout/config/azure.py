"""Azure settings: the App Service target and the Azure metrics sources.

Kept apart from the other target and analysis models so the Azure pieces stay in
one place; `targets.py` and `analysis.py` only register them.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator

from turnout.config.base import Section
from turnout.config.plugins import MetricsPlugin, TargetPlugin
from turnout.config.targets import TargetSettings
from turnout.errors import ConfigError

PUBLIC_CLOUD = "https://management.azure.com"
PUBLIC_LOGS = "https://api.loganalytics.io"
_ENV_REF = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def resolve_value(value: str, *, file: str, key: str) -> str:
    """A plain value, or the value of the environment variable an `env:NAME` reference names."""
    match = _ENV_REF.match(value)
    if match is None:
        return value
    found = os.environ.get(match.group("name"), "").strip()
    if not found:
        raise ConfigError(file, key, f"{value} is not set in the environment")
    return found


class AzureTargetConfig(TargetSettings):
    """An App Service app with a staging deployment slot (the runbook's platform)."""

    kind: Literal["azure"] = "azure"
    subscription: str = Field(min_length=1)
    """Subscription id, or a reference such as env:AZURE_SUBSCRIPTION_ID."""
    resource_group: str = Field(min_length=1)
    app: str = Field(min_length=1)
    """The web app's name (its production slot); other slots are `{app}/slots/{slot}`."""
    swap: Literal["direct", "preview"] = "direct"
    """direct: one swap operation. preview: apply production's slot settings to the staging
    slot first (its workers restart with them), warm it, then complete the swap."""
    management_endpoint: str = PUBLIC_CLOUD
    """Azure Resource Manager endpoint (other clouds, or a local server in tests)."""
    health_path: str | None = None
    """Path the platform's swap warm-up pings (WEBSITE_SWAP_WARMUP_PING_PATH);
    default: checks.warmup.path."""
    warmup_statuses: str = "200"
    """WEBSITE_SWAP_WARMUP_PING_STATUSES: answers that count as warmed up."""
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between looks at a running deployment or swap when Azure sends no
    Retry-After (the SDK's own default is 30 s)."""
    deploy_timeout: float = Field(default=900.0, gt=0)
    """Seconds a OneDeploy may take (az webapp deploy waits 15 min too)."""
    swap_timeout: float = Field(default=1800.0, gt=0)
    """Seconds a swap may take: the platform retries each warm-up ping for up to 90 s, five
    times per instance, and swaps of 10-20 minutes are reported."""
    location: str = "westeurope"
    """Region used when the staging slot has to be created."""
    version_setting: str = "TURNOUT_VERSION"
    """App setting holding the deployed version: not a slot setting, so it travels with
    the content on every swap."""

    @field_validator("staging_slot")
    @classmethod
    def _slot_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,58}", value) or value == "production":
            raise ValueError("a slot name of lowercase letters, digits and -, not 'production'")
        return value

    @field_validator("management_endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("the management endpoint must be an https:// URL")
        return value.rstrip("/")


class AppInsightsConfig(Section):
    """Application Insights requests read with KQL from its Log Analytics workspace."""

    workspace_id: str = Field(min_length=1)
    """The workspace's id (a GUID), or a reference such as env:APPINSIGHTS_WORKSPACE_ID."""
    endpoint: str = PUBLIC_LOGS
    table: str = "AppRequests"
    step: float = Field(default=10.0, ge=1)
    """Seconds per bucket of traffic (KQL bin)."""
    ingestion_delay: float = Field(default=180.0, ge=0)
    """Seconds after which a bucket is taken as fully ingested. Application Insights
    typically shows requests 1-3 minutes after they happen; a bucket younger than this is
    never judged (missing rows are not "no errors")."""
    timeout: float = Field(default=30.0, gt=0)


class AzureMonitorConfig(Section):
    """App Service platform metrics (Requests, Http5xx, HttpResponseTime) per slot."""

    ingestion_delay: float = Field(default=180.0, ge=0)
    """Seconds after which a one-minute point is taken as final."""
    timeout: float = Field(default=30.0, gt=0)


AZURE = TargetPlugin(
    "azure",
    AzureTargetConfig,
    "turnout.targets.azure:create",
    doctor="turnout.targets.azure.doctor:azure_probes",
)
"""The `azure` entry point of `turnout.targets`."""
APPINSIGHTS = MetricsPlugin("appinsights", "turnout.analysis.azure_choice:appinsights_provider")
"""The `appinsights` entry point of `turnout.metrics_providers` ([analysis.appinsights])."""
AZURE_MONITOR = MetricsPlugin(
    "azure-monitor", "turnout.analysis.azure_choice:azure_monitor_provider"
)
"""The `azure-monitor` entry point of `turnout.metrics_providers` ([analysis.azure_monitor])."""
