"""Building the Azure metrics providers for an environment whose target is App Service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.analysis.provider import ProviderChoice
from turnout.config.azure import AzureMonitorConfig

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


def appinsights_provider(
    config: LoadedConfig, env: EnvironmentConfig, target: object
) -> ProviderChoice:
    """The `appinsights` metrics provider: requests from Application Insights."""
    return azure_provider(config, env, target)


def azure_monitor_provider(
    config: LoadedConfig, env: EnvironmentConfig, target: object
) -> ProviderChoice:
    """The `azure-monitor` metrics provider: App Service platform metrics."""
    return azure_provider(config, env, target)


def azure_provider(config: LoadedConfig, env: EnvironmentConfig, target: object) -> ProviderChoice:
    """Application Insights or Azure Monitor, reading the slots of the azure target."""
    from turnout.targets.azure.target import AzureTarget

    analysis = env.analysis
    if not isinstance(target, AzureTarget):
        kind = env.target.kind
        return ProviderChoice(
            None,
            f"analysis.provider = {analysis.provider!r} reads App Service slots, but the target"
            f" is {kind}: metrics not measured",
        )
    if analysis.provider == "appinsights":
        from turnout.analysis.appinsights import AppInsightsProvider

        assert analysis.appinsights is not None  # validated with the configuration
        insights = AppInsightsProvider(
            analysis.appinsights,
            target.session.credential,
            target.host_of,
            config_file=str(config.path),
        )
        return ProviderChoice(
            insights,
            f"Application Insights (workspace {insights.workspace}), judged"
            f" {analysis.appinsights.ingestion_delay:g} s behind for ingestion",
        )
    from turnout.analysis.azure_monitor import AzureMonitorProvider

    settings = analysis.azure_monitor or AzureMonitorConfig()
    session = target.session
    monitor = AzureMonitorProvider(
        settings,
        session.credential,
        session.subscription,
        session.slot_id,
        session.client_options(),
    )
    return ProviderChoice(
        monitor,
        f"Azure Monitor App Service metrics, judged {settings.ingestion_delay:g} s behind"
        " for ingestion",
    )
