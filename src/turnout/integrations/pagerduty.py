"""PagerDuty REST API v2 through the `pagerduty` package: active incidents, who is on call."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pagerduty

from turnout.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from turnout.config import LoadedConfig
    from turnout.config.integrations import PagerDutyConfig

ACTIVE_STATUSES = ["triggered", "acknowledged"]


@dataclass(frozen=True)
class PagerDutyIncident:
    """A triggered or acknowledged PagerDuty incident."""

    id: str
    number: int | None
    title: str
    status: str
    service: str
    urgency: str
    created_at: str
    url: str


@dataclass(frozen=True)
class OnCallEntry:
    """Somebody on call for an escalation policy, at a level."""

    name: str
    email: str | None
    escalation_policy: str
    level: int
    until: str | None


def pagerduty_client(config: LoadedConfig, settings: PagerDutyConfig, *, key: str) -> Any:
    """A REST API v2 client; the token is resolved only here."""
    token = settings.token.resolve(file=str(config.path), key=f"{key}.token")
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        bundle = config.resolve_path(settings.ca_bundle)
        try:
            verify = ssl.create_default_context(cafile=str(bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                str(config.path), f"{key}.ca_bundle", f"cannot load {bundle}: {exc}"
            ) from None
    try:
        client: Any = pagerduty.RestApiV2Client(token, base_url=settings.base_url, verify=verify)
    except pagerduty.UrlError as exc:
        raise IntegrationError(f"PagerDuty: {key}.base_url: {exc}") from None
    client.timeout = settings.timeout
    # The client retries network errors three times with growing pauses; one pass is
    # enough for a gate that must answer promptly (a failure here refuses, never guesses).
    client.max_network_attempts = 1
    # Rate limiting is retried without limit by default; twice is enough, then report.
    client.retry = {429: 2}
    client.sleep_timer = 1
    return client


def _call(what: str, action: Any) -> Any:
    try:
        return action()
    except pagerduty.HttpError as exc:
        status = getattr(exc.response, "status_code", "?")
        raise IntegrationError(
            f"PagerDuty: {what}: HTTP {status}", details={"status": status}
        ) from None
    except (pagerduty.Error, pagerduty.UrlError) as exc:
        raise IntegrationError(f"PagerDuty: {what}: {_first_line(exc)}") from None
    except OSError as exc:
        raise IntegrationError(f"PagerDuty: {what}: {type(exc).__name__}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def active_incidents(client: Any, service_ids: list[str]) -> list[PagerDutyIncident]:
    """Triggered or acknowledged incidents, on the given services (all when empty)."""
    params: dict[str, Any] = {"statuses": ACTIVE_STATUSES}
    if service_ids:
        params["service_ids"] = list(service_ids)
    rows = _call("list incidents", lambda: list(client.iter_all("incidents", params=params)))
    return [_incident(row) for row in rows if row.get("status") in ACTIVE_STATUSES]


def _incident(row: dict[str, Any]) -> PagerDutyIncident:
    service = row.get("service") or {}
    return PagerDutyIncident(
        id=str(row.get("id", "")),
        number=row.get("incident_number"),
        title=str(row.get("title") or row.get("summary") or ""),
        status=str(row.get("status", "")),
        service=str(service.get("summary") or service.get("id") or ""),
        urgency=str(row.get("urgency", "")),
        created_at=str(row.get("created_at", "")),
        url=str(row.get("html_url", "")),
    )


def on_call(client: Any, escalation_policy_ids: list[str]) -> list[OnCallEntry]:
    """Who is on call now for the escalation policies, lowest level first."""
    params: dict[str, Any] = {"escalation_policy_ids": list(escalation_policy_ids)}
    rows = _call("list on-calls", lambda: list(client.iter_all("oncalls", params=params)))
    entries = [_oncall(row) for row in rows]
    return sorted(entries, key=lambda e: (e.level, e.escalation_policy, e.name))


def _oncall(row: dict[str, Any]) -> OnCallEntry:
    user = row.get("user") or {}
    policy = row.get("escalation_policy") or {}
    return OnCallEntry(
        name=str(user.get("summary") or user.get("name") or user.get("id") or "?"),
        email=user.get("email"),
        escalation_policy=str(policy.get("summary") or policy.get("id") or ""),
        level=int(row.get("escalation_level") or 1),
        until=row.get("end"),
    )


def check_token(client: Any) -> None:
    """Raise IntegrationError unless the API accepts the token (GET /abilities)."""
    response = _call("check token", lambda: client.get("/abilities"))
    if not response.is_success:
        raise IntegrationError(f"PagerDuty: check token: HTTP {response.status_code}")
