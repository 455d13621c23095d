"""Who is on call: PagerDuty escalation policies when configured, else the roster.

`integrations.oncall` is the only on-call source: the start announcement's
on-call backup and the checklist's "On-call engineer identified and available"
both ask `on_call`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.integrations import OnCallShift


@dataclass(frozen=True)
class OnCall:
    """The people on call, in order of preference, and where that came from."""

    source: str
    """pagerduty, roster or none."""
    people: list[str]
    emails: dict[str, str] = field(default_factory=dict)
    """E-mail addresses PagerDuty gave, by name (to find them among `[[people]]`)."""

    def first(self) -> str | None:
        """The on-call engineer of the moment: the first person on call, if any."""
        return self.people[0] if self.people else None

    def backup_for(self, deployer: str) -> str | None:
        """The first person on call who is not the deployer (the runbook's on-call backup)."""
        for person in self.people:
            if person.casefold() != deployer.casefold():
                return person
        return None


def on_call(config: LoadedConfig, env: EnvironmentConfig, at: datetime | None = None) -> OnCall:
    """Who is on call for the environment at `at` (default now; PagerDuty always answers for
    now). IntegrationError when PagerDuty cannot say."""
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
        emails: dict[str, str] = {}
        for entry in entries:
            if entry.name not in names:
                names.append(entry.name)
            if entry.email:
                emails.setdefault(entry.name, entry.email)
        return OnCall("pagerduty", names, emails)
    if settings.roster:
        when = at if at is not None else datetime.now(UTC)
        return OnCall("roster", roster_at(settings.roster, when, env.policy.zone))
    return OnCall("none", [])


def roster_at(roster: list[OnCallShift], at: datetime, zone: ZoneInfo) -> list[str]:
    """The people a roster has on call at an instant, in roster order, each once; shift times
    without an offset are local to `zone`."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    names: list[str] = []
    for shift in roster:
        start, end = _aware(shift.start, zone), _aware(shift.end, zone)
        active = (start is None or start <= at) and (end is None or at < end)
        if active and shift.person not in names:
            names.append(shift.person)
    return names


def _aware(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone)
