"""Azure Service Health and Resource Health as an incident source.

Two documented Resource Health REST calls (api-version 2022-10-01), with the App
Service target's own credential and management endpoint:

- `GET /subscriptions/{sub}/providers/Microsoft.ResourceHealth/events`: the
  subscription's Service Health events; active service issues and planned maintenance
  on the configured services in the app's region count.
- `GET {resource}/providers/Microsoft.ResourceHealth/availabilityStatuses/current` for
  the app and any configured resource (its database): Unavailable or Degraded counts.

Anything that keeps Azure from answering raises IntegrationError: the caller decides
whether that blocks or warns, and never takes it for "no incident".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from turnout.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.azure import AzureTargetConfig
    from turnout.config.integrations import AzureHealthConfig

API_VERSION = "2022-10-01"
TROUBLED = ("Unavailable", "Degraded")
MAX_PAGES = 20


@dataclass(frozen=True)
class AzureHealthIssue:
    """An active Service Health event, or a resource Azure reports as not available."""

    id: str
    """The event's tracking id, or `availability:{resource name}`."""
    title: str
    started_at: str


def _region_key(name: str) -> str:
    # Service Health names regions for display ("West Europe"); targets use "westeurope".
    return "".join(name.split()).casefold()


def azure_target(config: LoadedConfig, env: EnvironmentConfig, key: str) -> AzureTargetConfig:
    """The environment's App Service target settings (the source reuses its credential)."""
    from turnout.config.azure import AzureTargetConfig

    target = env.target
    if not isinstance(target, AzureTargetConfig):
        raise ConfigError(
            str(config.path), key, 'needs the environment\'s target to be kind = "azure"'
        )
    return target


def health_issues(
    config: LoadedConfig, env: EnvironmentConfig, settings: AzureHealthConfig
) -> list[AzureHealthIssue]:
    """Active events and troubled resources concerning the environment's app."""
    from turnout.targets.azure.sdk import open_session

    key = f"environments.{env.name}.integrations.incidents.azure"
    target = azure_target(config, env, key)
    session = open_session(target, file=str(config.path), key=f"environments.{env.name}.target")
    try:
        try:
            token = session.token()
        except Exception as exc:  # azure-identity raises several types; all mean "cannot ask"
            raise IntegrationError(f"Azure Service Health: no token: {_first_line(exc)}") from None
        endpoint = target.management_endpoint.rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        with httpx.Client(headers=headers, timeout=settings.timeout) as client:
            region = _region_key(settings.region or target.location)
            events = _events(client, f"{endpoint}/subscriptions/{session.subscription}")
            found = [
                issue
                for event in events
                if (issue := _concerning(event, settings, region)) is not None
            ]
            for resource in [session.site_id, *settings.resources]:
                issue = _availability(client, endpoint, resource)
                if issue is not None:
                    found.append(issue)
        return found
    finally:
        session.close()


def _get(client: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise IntegrationError(
            f"Azure Service Health: {what}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    if response.status_code != 200:
        code = ""
        with contextlib.suppress(ValueError, AttributeError):  # an error body is optional
            code = str((response.json().get("error") or {}).get("code") or "")
        raise IntegrationError(
            f"Azure Service Health: {what}: HTTP {response.status_code}"
            + (f" {code}" if code else ""),
            details={"status": response.status_code},
        )
    try:
        document = response.json()
    except ValueError:
        raise IntegrationError(f"Azure Service Health: {what}: not JSON") from None
    if not isinstance(document, dict):
        raise IntegrationError(f"Azure Service Health: {what}: unexpected answer")
    return document


def _events(client: httpx.Client, subscription_url: str) -> list[dict[str, Any]]:
    url: str | None = (
        f"{subscription_url}/providers/Microsoft.ResourceHealth/events?api-version={API_VERSION}"
    )
    events: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if not url:
            break
        page = _get(client, url, "list events")
        events.extend(e for e in page.get("value") or [] if isinstance(e, dict))
        url = page.get("nextLink")
    return events


def _concerning(
    event: dict[str, Any], settings: AzureHealthConfig, region: str
) -> AzureHealthIssue | None:
    props = event.get("properties") or {}
    if props.get("status") != "Active" or props.get("eventType") not in settings.event_types:
        return None
    services = {s.casefold() for s in settings.services}
    hit = False
    for impact in props.get("impact") or []:
        if str(impact.get("impactedService", "")).casefold() not in services:
            continue
        regions = {
            _region_key(str(r.get("impactedRegion", "")))
            for r in impact.get("impactedRegions") or []
        }
        if region in regions or "global" in regions:
            hit = True
    if not hit:
        return None
    kind = "service issue" if props.get("eventType") == "ServiceIssue" else "planned maintenance"
    return AzureHealthIssue(
        id=str(event.get("name") or props.get("trackingId") or "?"),
        title=f"Azure {kind}: {props.get('title') or props.get('summary') or '(untitled)'}",
        started_at=str(props.get("impactStartTime") or ""),
    )


def _availability(client: httpx.Client, endpoint: str, resource: str) -> AzureHealthIssue | None:
    url = (
        f"{endpoint}{resource}/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
        f"?api-version={API_VERSION}"
    )
    name = resource.rstrip("/").rsplit("/", 1)[-1]
    props = _get(client, url, f"availability of {name}").get("properties") or {}
    state = str(props.get("availabilityState") or "Unknown")
    if state == "Unknown":
        raise IntegrationError(f"Azure Service Health: availability of {name} is Unknown")
    if state not in TROUBLED:
        return None
    why = props.get("summary") or props.get("title")
    return AzureHealthIssue(
        id=f"availability:{name}",
        title=f"Azure reports {name} {state}" + (f": {why}" if why else ""),
        started_at=str(props.get("occuredTime") or props.get("occurredTime") or ""),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
