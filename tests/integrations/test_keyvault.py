"""Key Vault secret references read through azure-keyvault-secrets against the fake Azure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.azure_keyvault import FakeKeyVault
from tests.fakes.azure_world import AzureWorld
from tests.support.azure_project import AzureProject, azure_world, write_project
from turnout.config.secrets import SecretRef
from turnout.errors import ConfigError
from turnout.integrations.keyvault import SecretUnreadable, Unreadable, read_secret, vault_url

__all__ = ["azure_world"]

VALUE = "kv-value-5b1f0c9e-never-shown"


@pytest.fixture
def vault(azure_world: AzureWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKeyVault]:
    """The fake's Key Vault, and this process pointed at the fake Azure."""
    for name, value in azure_world.apply().items():
        monkeypatch.setenv(name, value)
    yield FakeKeyVault(azure_world.server)


def test_reference_forms_parse_and_bad_ones_are_refused() -> None:
    """keyvault://VAULT/NAME[/VERSION] parses into its parts; other shapes are refused."""
    plain = SecretRef("keyvault://tesoro-kv/db-password")
    assert plain.keyvault_parts == ("tesoro-kv", "db-password", None)
    pinned = SecretRef("keyvault://tesoro-kv/db-password/" + "a" * 32)
    assert pinned.keyvault_parts[2] == "a" * 32
    other_cloud = SecretRef("keyvault://tesoro-kv.vault.usgovcloudapi.net/db-password")
    assert vault_url(other_cloud.keyvault_parts[0]) == "https://tesoro-kv.vault.usgovcloudapi.net"
    assert vault_url("tesoro-kv") == "https://tesoro-kv.vault.azure.net"
    for bad in ("keyvault://kv/db", "keyvault://tesoro-kv/", "keyvault://tesoro-kv/a_b"):
        with pytest.raises(ValueError):
            SecretRef(bad)


def test_secret_is_read_through_the_challenge_and_a_version_can_be_pinned(
    vault: FakeKeyVault,
) -> None:
    """SecretClient answers the 401 challenge, then reads the latest or a pinned version."""
    first = vault.add_secret("tesoro-kv", "db-password", "old-" + VALUE)
    vault.add_secret("tesoro-kv", "db-password", VALUE)
    assert SecretRef("keyvault://tesoro-kv/db-password").resolve() == VALUE
    pinned = SecretRef(f"keyvault://tesoro-kv/db-password/{first}")
    assert pinned.resolve() == "old-" + VALUE
    assert vault.reads == [("tesoro-kv", "db-password")] * 2


def test_unreadable_secrets_say_why_without_the_value(vault: FakeKeyVault) -> None:
    """404 is a configuration error naming the key; 403 and a disabled secret say so."""
    vault.add_secret("tesoro-kv", "off", VALUE, enabled=False)
    vault.add_secret("tesoro-kv", "locked", VALUE)
    vault.forbidden.add(("tesoro-kv", "locked"))
    with pytest.raises(ConfigError) as missing:
        read_secret(SecretRef("keyvault://tesoro-kv/nothing"), file="t.toml", key="a.b")
    assert "t.toml: a.b:" in missing.value.message and "404 SecretNotFound" in missing.value.message
    with pytest.raises(SecretUnreadable) as disabled:
        SecretRef("keyvault://tesoro-kv/off").resolve()
    assert disabled.value.reason is Unreadable.DISABLED
    with pytest.raises(SecretUnreadable) as forbidden:
        SecretRef("keyvault://tesoro-kv/locked").resolve()
    assert forbidden.value.reason is Unreadable.FORBIDDEN
    assert "ForbiddenByRbac" in forbidden.value.message
    for error in (missing.value, disabled.value, forbidden.value):
        assert VALUE not in error.message


def test_doctor_names_each_unreadable_secret_and_why(
    tmp_path: Path, azure_world: AzureWorld, vault: FakeKeyVault
) -> None:
    """turnout doctor reads every referenced secret: readable, 404, 403 and disabled apart."""
    vault.add_secret("tesoro-kv", "routing-key", VALUE)
    vault.add_secret("tesoro-kv", "github-token", VALUE, enabled=False)
    vault.add_secret("tesoro-kv", "slack-url", VALUE)
    vault.forbidden.add(("tesoro-kv", "slack-url"))
    extra = """
[environments.web.integrations.change_events.pagerduty]
routing_key = "keyvault://tesoro-kv/routing-key"

[environments.web.integrations.incidents.pagerduty]
token = "keyvault://tesoro-kv/pagerduty-token"

[environments.web.integrations.notify]
urls = ["keyvault://tesoro-kv/slack-url"]

[environments.web.integrations.vcs]
tag = false
push_password = "keyvault://tesoro-kv/github-token"
"""
    project: AzureProject = write_project(tmp_path / "project", azure_world, extra=extra)
    result = project.read("doctor", "--env", "web", "--json")
    assert result.returncode == 3, result.stderr
    probes = {p["name"]: p for p in json.loads(result.stdout)["probes"]}
    web = "key vault environments.web.integrations"
    assert probes[f"{web}.change_events.pagerduty.routing_key"]["ok"] is True
    assert "readable" in probes[f"{web}.change_events.pagerduty.routing_key"]["detail"]
    token = probes[f"{web}.incidents.pagerduty.token"]
    assert not token["ok"] and "not found" in token["detail"] and "404" in token["detail"]
    url = probes[f"{web}.notify.urls[0]"]
    assert not url["ok"] and "403" in url["detail"] and "may not read" in url["detail"]
    password = probes[f"{web}.vcs.push_password"]
    assert not password["ok"] and "disabled" in password["detail"]
    assert VALUE not in result.stdout + result.stderr
