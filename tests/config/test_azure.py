"""Bad azure target settings are refused with the file and key named (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.config import load_config
from turnout.config.azure import AzureTargetConfig
from turnout.errors import ConfigError

BASE = '[app]\nname = "x"\n[environments.production.target]\nkind = "azure"\n'
GOOD = 'subscription = "env:AZURE_SUBSCRIPTION_ID"\nresource_group = "rg"\napp = "x-app"\n'


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ('resource_group = "rg"\napp = "x-app"\n', "subscription"),
        (GOOD + 'staging_slot = "production"\n', "staging_slot"),
        (GOOD + 'management_endpoint = "http://127.0.0.1:1"\n', "management_endpoint"),
        (GOOD + 'swap = "sometimes"\n', "swap"),
        (GOOD + "poll_interval = 0\n", "poll_interval"),
    ],
)
def test_bad_setting_names_its_key(tmp_path: Path, lines: str, key: str) -> None:
    """Each invalid or missing setting is a ConfigError naming that key of the target table."""
    path = tmp_path / "turnout.toml"
    path.write_text(BASE + lines)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert key in str(caught.value)
    assert "environments.production.target" in str(caught.value)


def test_good_settings_have_the_documented_defaults(tmp_path: Path) -> None:
    """A minimal azure table gets blue, a direct swap and the public cloud."""
    path = tmp_path / "turnout.toml"
    path.write_text(BASE + GOOD)
    target = load_config(path).env("production").target
    assert isinstance(target, AzureTargetConfig)
    assert (target.staging_slot, target.swap, target.management_endpoint) == (
        "blue",
        "direct",
        "https://management.azure.com",
    )
