"""Who is on call: PagerDuty escalation policies when configured, else the roster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


@dataclass(frozen=True)
class OnCall:
    """The people on call, in order of preference, and where that came from."""

    source: str
    """pagerduty, roster or none."""
    people: list[str]

    def backup_for(self, deployer: str) -> str | None:
        """The first person on call who is not the deployer (the runbook's on-call backup)."""
        for person in self.people:
            if person.casefold() != deployer.casefold():
                return person
        return None


def on_call(config: LoadedConfig, env: EnvironmentConfig) -> OnCall:
    """Who is on call for the environment (IntegrationError when PagerDuty cannot say)."""
    settings = env.integrations.oncall
    if settings.escalation_policy_ids:
        pd = env.integrations.incidents.pagerduty
        key = f"environments.{env.name}.integrations.oncall.escalation_policy_ids"
        if pd is None:
            raise ConfigError(
                str(config.path), key, "needs integrations.incidents.pagerduty (token, base_url)"
            )
        from turnout.integrations import pagerduty

        client = pagerduty.pagerduty_client(
            config, pd, key=f"environments.{env.name}.integrations.incidents.pagerduty"
        )
        try:
            entries = pagerduty.on_call(client, settings.escalation_policy_ids)
        finally:
            client.close()
        names: list[str] = []
        for entry in entries:
            if entry.name not in names:
                names.append(entry.name)
        return OnCall("pagerduty", names)
    if settings.roster:
        return OnCall("roster", list(settings.roster))
    return OnCall("none", [])
