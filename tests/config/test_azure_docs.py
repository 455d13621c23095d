"""docs/azure.md's complete tesoro configuration is a valid turnout.toml."""

from __future__ import annotations

from pathlib import Path

from turnout.config import load_config
from turnout.config.azure import AzureTargetConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "azure.md"


def test_tesoro_configuration_in_the_docs_loads(tmp_path: Path) -> None:
    """The documented production and staging apps load, each an azure target with App Insights."""
    text = DOC.read_text()
    start = text.index('```toml\n[app]\nname = "tesoro"') + len("```toml\n")
    config_file = tmp_path / "turnout.toml"
    config_file.write_text(text[start : text.index("```", start)])
    config = load_config(config_file)
    for env, group in (("production", "tesoro-production-rg"), ("staging", "tesoro-staging-rg")):
        settings = config.env(env)
        assert isinstance(settings.target, AzureTargetConfig)
        assert (settings.target.resource_group, settings.target.staging_slot) == (group, "blue")
        assert settings.analysis.provider == "appinsights"
        assert settings.analysis.appinsights is not None
        assert settings.analysis.appinsights.workspace_id.startswith("env:TESORO_")


def test_arm_infrastructure_table_in_the_docs_loads(tmp_path: Path) -> None:
    """The documented ARM infrastructure table, added to the tesoro configuration, loads as
    production's ARM phase with its outputs, resources and secret parameter."""
    from turnout.config.arm import ArmInfraConfig

    text = DOC.read_text()
    start = text.index('```toml\n[app]\nname = "tesoro"') + len("```toml\n")
    marker = '```toml\n[environments.production.integrations.infra]\nkind = "arm"'
    arm = text.index(marker) + len("```toml\n")
    config_file = tmp_path / "turnout.toml"
    config_file.write_text(
        text[start : text.index("```", start)] + "\n" + text[arm : text.index("```", arm)]
    )
    infra = load_config(config_file).env("production").integrations.infra
    assert isinstance(infra, ArmInfraConfig)
    assert (infra.resource_group, infra.mode, infra.allow_deletes) == (
        "tesoro-production-rg",
        "Incremental",
        False,
    )
    assert infra.expected_values() == {"webAppName": "tesoro-production-app-x7k2"}
    assert str(infra.secrets["sqlAdminPassword"]).startswith("keyvault://")
