"""PagerDuty change events: each deployment's start and ending on the service's timeline.

A change event (Events API v2, `POST /v2/change/enqueue`) is what on-call sees in an
incident's "recent changes": so they learn a deployment happened without anyone
paging them. It is a notification channel like an Apprise URL: the notifier retries it,
bounds it in time and never lets it fail or block the deployment. The event carries
only what the announcement shows (version, environment, deployer, tracking link,
evidence summary); the routing key travels only as the API's own `routing_key` field.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from turnout.errors import ConfigError
from turnout.integrations.messages import Message, MessageKind, evidence_lines
from turnout.integrations.notify import Channel, DeliveryFailed
from turnout.text import first_line

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.integrations import PagerDutyChangesConfig

MAX_SUMMARY_CHARS = 1024
"""The API's limit on `payload.summary`."""
SENT_KINDS = frozenset(
    {MessageKind.START, MessageKind.SUCCESS, MessageKind.ROLLBACK, MessageKind.NEEDS_PERSON}
)
"""A refusal changed nothing, so it is no change event."""
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ChangeEvent:
    """One change event's payload and links (no routing key)."""

    summary: str
    source: str
    timestamp: str
    custom_details: dict[str, Any]
    links: list[dict[str, str]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The `payload` object of the request."""
        return {
            "summary": self.summary,
            "source": self.source,
            "timestamp": self.timestamp,
            "custom_details": self.custom_details,
        }


def change_event(message: Message, *, app: str, at: datetime) -> ChangeEvent | None:
    """The change event telling a message's news, or None for a kind that is not sent."""
    if message.kind not in SENT_KINDS:
        return None
    c = message.context
    version = str(c.get("version") or "?")
    environment = str(c.get("environment") or "?")
    deployer = str(c.get("deployer") or "?")
    emergency = bool(c.get("emergency"))
    label = "Emergency deployment" if emergency else "Deployment"
    if message.kind is MessageKind.START:
        summary = f"{label} of {app} {version} to {environment} started by {deployer}"
        if emergency and c.get("reason"):
            summary += f": {c['reason']}"
    elif message.kind is MessageKind.SUCCESS:
        summary = f"{app} {version} deployed on {environment} by {deployer}"
        if c.get("proven", True) is False:
            summary += ", not proven healthy"
    elif message.kind is MessageKind.ROLLBACK:
        if c.get("traffic_moved") is False and c.get("failed_step") == "swap":
            summary = f"{app} {version}'s swap failed on {environment}, production never changed"
        elif c.get("traffic_moved") is False and c.get("canary_served"):
            summary = (
                f"{app} {version}'s canary rolled back on {environment} after serving"
                f" {c['canary_served']} user requests ({c.get('canary_failed') or 0} failed)"
            )
        elif c.get("traffic_moved") is False:
            summary = f"{app} {version} failed on {environment} before any traffic moved"
        else:
            back_on = c.get("live_version") or c.get("previous_version") or "the previous version"
            summary = f"{app} {version} rolled back on {environment}, production is on {back_on}"
    else:
        summary = f"{app} {version} on {environment} needs a person"
    if message.kind is not MessageKind.START and c.get("error"):
        summary += f" ({c.get('failed_step') or 'failed'}: {first_line(str(c['error']))})"
    details: dict[str, Any] = {
        "event": message.kind.value,
        "emergency": emergency,
        "environment": environment,
        "version": version,
        "previous_version": c.get("previous_version"),
        "deployer": deployer,
        "deployment_id": c.get("deployment_id"),
        "type": c.get("type"),
        "changes": c.get("changes"),
        "tracking_url": c.get("tracking_url"),
        "evidence": evidence_summary(message),
    }
    if emergency:
        details["reason"] = c.get("reason")
    if c.get("oncall"):
        details["oncall"] = c.get("oncall")
    tracking = c.get("tracking_url")
    links = [{"href": str(tracking), "text": "Tracking issue"}] if tracking else []
    return ChangeEvent(
        summary=_short(summary),
        source=f"turnout {app} {environment}",
        timestamp=at.astimezone(UTC).isoformat(),
        custom_details={k: v for k, v in details.items() if v not in (None, "")},
        links=links,
    )


def evidence_summary(message: Message) -> list[str]:
    """What the deployment's verdict rests on, as short lines (the announcement's figures)."""
    c = message.context
    if message.kind is MessageKind.START:
        return [str(c["rollback_plan"])] if c.get("rollback_plan") else []
    if message.kind is MessageKind.SUCCESS:
        lines: list[str] = []
        checks = c.get("checks") or {}
        if isinstance(checks, Mapping) and checks:
            passing = sum(1 for ok in checks.values() if ok)
            lines.append(f"health checks {passing}/{len(checks)} passing")
        if c.get("error_rate") is not None:
            limit = float(c.get("max_error_rate", 0.0)) * 100
            lines.append(f"error rate {float(c['error_rate']) * 100:.3g}% (limit {limit:g}%)")
        if c.get("p95_ms") is not None:
            lines.append(f"p95 {float(c['p95_ms']):.0f} ms (limit {c.get('max_p95_ms')} ms)")
        if c.get("verification"):
            lines.append(str(c["verification"]))
        return lines
    lines = []
    if c.get("failed_step"):
        lines.append(f"failed step: {c['failed_step']}")
    if c.get("error"):
        lines.append(first_line(str(c["error"])))
    lines.extend(evidence_lines(c.get("evidence")))
    return lines


def _short(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"


class PagerDutyChangeChannel:
    """Change events to one PagerDuty service through the `pagerduty` package's Events
    API v2 client; the notifier does the retrying (the client is told not to)."""

    def __init__(self, config: LoadedConfig, settings: PagerDutyChangesConfig, *, key: str) -> None:
        self._config = config
        self._settings = settings
        self._key = key
        self.label = f"PagerDuty change events ({key})"

    def deliver(self, message: Message, timeout: float) -> None:
        event = change_event(message, app=self._config.root.app.name, at=datetime.now(UTC))
        if event is None:
            return
        import pagerduty  # only when an event is sent: every announcement lists this channel

        client = self._client(timeout)
        try:
            client.send_change_event(payload=event.payload(), links=event.links)
        except pagerduty.HttpError as exc:
            status = getattr(exc.response, "status_code", None)
            reason = f"HTTP {status}" if status is not None else "HTTP error"
            raise DeliveryFailed(reason, permanent=status not in _RETRIED_STATUSES) from None
        except (pagerduty.Error, pagerduty.UrlError) as exc:
            raise DeliveryFailed(first_line(str(exc)) or type(exc).__name__) from None
        except OSError as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        finally:
            client.close()

    def _client(self, timeout: float) -> Any:
        try:
            key = self._settings.routing_key.resolve(
                file=str(self._config.path), key=f"{self._key}.routing_key"
            )
        except ConfigError as exc:
            raise DeliveryFailed(exc.problem, permanent=True) from None
        import pagerduty

        verify: ssl.SSLContext | bool = True
        if self._settings.ca_bundle:
            bundle = self._config.resolve_path(self._settings.ca_bundle)
            try:
                verify = ssl.create_default_context(cafile=str(bundle))
            except (OSError, ssl.SSLError) as exc:
                raise DeliveryFailed(f"cannot load {bundle}: {exc}", permanent=True) from None
        try:
            client: Any = pagerduty.EventsApiV2Client(
                key, base_url=self._settings.base_url, verify=verify
            )
        except pagerduty.UrlError as exc:
            raise DeliveryFailed(f"base_url: {first_line(str(exc))}", permanent=True) from None
        client.timeout = timeout
        # One attempt per delivery: the notifier retries with its backoff inside its bound.
        client.retry = {}
        client.max_network_attempts = 1
        return client


def pagerduty_change_channels(config: LoadedConfig, env: EnvironmentConfig) -> Sequence[Channel]:
    """The environment's change-event channel, when `change_events.pagerduty` is set."""
    settings = env.integrations.change_events.pagerduty
    if settings is None:
        return []
    key = f"environments.{env.name}.integrations.change_events.pagerduty"
    return [PagerDutyChangeChannel(config, settings, key=key)]
