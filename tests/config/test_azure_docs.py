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
