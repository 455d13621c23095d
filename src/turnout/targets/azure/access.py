"""The runbook's "Required Access" on Azure: which actions a deployer needs, and whether
the caller holds them (Microsoft.Authorization permissions on the resource group)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from turnout.config.azure import AzureTargetConfig

BASE_ACTIONS = (
    ("Microsoft.Web/sites/read", "read the app (production slot)"),
    ("Microsoft.Web/sites/slots/read", "read the staging slot"),
    ("Microsoft.Web/sites/slots/write", "create the staging slot"),
    ("Microsoft.Web/sites/config/list/action", "read production's app settings (its version)"),
    ("Microsoft.Web/sites/slots/config/list/action", "read the slot's app settings"),
    ("Microsoft.Web/sites/config/read", "read the slot settings (slotConfigNames)"),
    ("Microsoft.Web/sites/config/write", "mark the warm-up settings as slot settings"),
    ("Microsoft.Web/sites/slots/config/write", "record the version in the slot's app settings"),
    ("Microsoft.Web/sites/slots/publish/action", "OneDeploy the package to the slot"),
    ("Microsoft.Web/sites/slots/slotsswap/action", "swap the slot with production"),
    ("Microsoft.Resources/deployments/read", "read resource-group deployments (snapshot)"),
)
PREVIEW_ACTIONS = (
    ("Microsoft.Web/sites/slots/applySlotConfig/action", "swap with preview: apply settings"),
    ("Microsoft.Web/sites/slots/resetSlotConfig/action", "swap with preview: cancel"),
)
METRICS_ACTION = ("Microsoft.Insights/metrics/read", "read App Service platform metrics")


@dataclass(frozen=True)
class PermissionEntry:
    """One entry of Microsoft.Authorization/permissions (from one role assignment)."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...]

    def allows(self, action: str) -> bool:
        """Whether an action matches an allowed pattern of this entry and none it excludes."""
        return _matches(self.actions, action) and not _matches(self.not_actions, action)


def _matches(patterns: Iterable[str], action: str) -> bool:
    # Azure's action patterns: '*' is a wildcard, comparison ignores case.
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def required_actions(settings: AzureTargetConfig, *, metrics: bool) -> list[tuple[str, str]]:
    """(action, why) pairs a deployer of this target needs."""
    needed = list(BASE_ACTIONS)
    if settings.swap == "preview":
        needed.extend(PREVIEW_ACTIONS)
    if metrics:
        needed.append(METRICS_ACTION)
    return needed


def missing_actions(
    entries: list[PermissionEntry], needed: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The needed actions no permission entry allows."""
    return [(action, why) for action, why in needed if not any(e.allows(action) for e in entries)]
