"""Which actions a deployer needs on Azure, and how permission entries grant them."""

from __future__ import annotations

from turnout.config.azure import AzureTargetConfig
from turnout.targets.azure.access import PermissionEntry, missing_actions, required_actions

SETTINGS = AzureTargetConfig(subscription="s", resource_group="rg", app="a")
SWAP = "Microsoft.Web/sites/slots/slotsswap/action"


def test_wildcards_grant_and_not_actions_take_away() -> None:
    """`Microsoft.Web/*` grants the web actions; a notAction of the same entry removes one."""
    needed = required_actions(SETTINGS, metrics=False)
    entry = PermissionEntry(("Microsoft.Web/*", "Microsoft.Resources/deployments/read"), (SWAP,))
    assert [action for action, _ in missing_actions([entry], needed)] == [SWAP]


def test_another_entry_can_grant_what_one_excludes() -> None:
    """Permissions from two role assignments: an action excluded by one is granted by the other."""
    needed = required_actions(SETTINGS, metrics=False)
    limited = PermissionEntry(("*",), (SWAP,))
    swapper = PermissionEntry((SWAP.upper(),), ())  # Azure compares actions case-insensitively
    assert missing_actions([limited, swapper], needed) == []


def test_preview_and_metrics_add_their_actions() -> None:
    """swap = "preview" needs applySlotConfig/resetSlotConfig; azure-monitor needs metrics/read."""
    preview = SETTINGS.model_copy(update={"swap": "preview"})
    names = {action for action, _ in required_actions(preview, metrics=True)}
    assert "Microsoft.Web/sites/slots/applySlotConfig/action" in names
    assert "Microsoft.Web/sites/slots/resetSlotConfig/action" in names
    assert "Microsoft.Insights/metrics/read" in names
    plain = {action for action, _ in required_actions(SETTINGS, metrics=False)}
    assert "Microsoft.Insights/metrics/read" not in plain
