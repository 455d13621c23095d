"""Runbook Phase 1.3/1.4 on Azure: the app's state, pending swaps, access, and the latest
resource-group deployment (sorted by its timestamp: the service's list order is not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from turnout.errors import GateFailed
from turnout.targets.azure.access import PermissionEntry, missing_actions, required_actions
from turnout.targets.azure.failures import azure_reason

if TYPE_CHECKING:
    from turnout.targets.azure.sdk import AzureSession


@dataclass(frozen=True)
class LatestDeployment:
    """The newest resource-group deployment (what `az deployment group list` is asked for)."""

    name: str
    timestamp: datetime | None
    provisioning_state: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "provisioning_state": self.provisioning_state,
        }


def latest_deployment(session: AzureSession) -> LatestDeployment | None:
    """The resource group's deployment with the newest timestamp (None when there is none)."""
    from azure.mgmt.resource import ResourceManagementClient

    options = session.client_options()
    options.pop("polling_interval", None)
    client = ResourceManagementClient(session.credential, session.subscription, **options)
    try:
        found = [
            LatestDeployment(
                str(d.name),
                d.properties.timestamp if d.properties else None,
                str(d.properties.provisioning_state) if d.properties else "unknown",
            )
            for d in client.deployments.list_by_resource_group(session.settings.resource_group)
        ]
    finally:
        client.close()  # type: ignore[no-untyped-call]  # the multi-API client is untyped
    dated = [d for d in found if d.timestamp is not None]
    if not dated:
        return found[0] if found else None
    return max(dated, key=lambda d: d.timestamp or datetime.min)


def missing_permissions(session: AzureSession, *, metrics: bool) -> list[tuple[str, str]]:
    """Needed actions the caller's permissions on the resource group do not allow."""
    from azure.mgmt.authorization import AuthorizationManagementClient

    options = session.client_options()
    options.pop("polling_interval", None)
    client = AuthorizationManagementClient(session.credential, session.subscription, **options)
    try:
        entries = [
            PermissionEntry(tuple(p.actions or ()), tuple(p.not_actions or ()))
            for p in client.permissions.list_for_resource_group(session.settings.resource_group)
        ]
    finally:
        client.close()  # type: ignore[no-untyped-call]  # the multi-API client is untyped
    return missing_actions(entries, required_actions(session.settings, metrics=metrics))


def check_preconditions(
    session: AzureSession, *, metrics: bool, staging_app: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Refuse (GateFailed, nothing changed) when the app (or the staging environment's app)
    is not running, a swap with preview involving production or the staging slot is
    pending with another slot, or the caller lacks an action the deployment needs."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    s = session.settings
    apps = session.web.web_apps
    try:
        site = apps.get(s.resource_group, s.app)
    except HttpResponseError as exc:
        raise GateFailed(f"cannot read app {s.app}: {azure_reason(exc)}") from None
    outputs: dict[str, Any] = {"app_state": site.state}
    if str(site.state).lower() != "running":
        raise GateFailed(f"App Service app {s.app} is {site.state}, not Running", details=outputs)
    if staging_app is not None:
        group, name = staging_app
        try:
            staging = apps.get(group, name)
        except HttpResponseError as exc:
            raise GateFailed(
                f"cannot read the staging environment's app {name}: {azure_reason(exc)}"
            ) from None
        outputs["staging_environment_app"] = {"app": name, "state": staging.state}
        if str(staging.state).lower() != "running":
            raise GateFailed(
                f"the staging environment's app {name} is {staging.state}, not Running",
                details=outputs,
            )
    pending = getattr(site, "target_swap_slot", None)
    if pending and pending != s.staging_slot:
        raise GateFailed(
            f"production of {s.app} is prepared for a swap with slot {pending} (a pending swap"
            f" with preview): complete or cancel it first (az webapp deployment slot swap"
            f" --slot {pending} --action reset)",
            details=outputs,
        )
    try:
        slot = apps.get_slot(s.resource_group, s.app, s.staging_slot)
        other = getattr(slot, "target_swap_slot", None)
        if other and other != "production":
            raise GateFailed(f"slot {s.staging_slot} is prepared for a swap with {other}")
    except ResourceNotFoundError:
        outputs["staging_slot"] = "missing (the stage step creates it)"
    except HttpResponseError as exc:
        raise GateFailed(f"cannot read slot {s.staging_slot}: {azure_reason(exc)}") from None
    try:
        missing = missing_permissions(session, metrics=metrics)
    except HttpResponseError as exc:
        outputs["permissions"] = f"not checked ({azure_reason(exc)})"
    else:
        if missing:
            named = "; ".join(f"{action} ({why})" for action, why in missing)
            raise GateFailed(
                f"the caller lacks {len(missing)} action(s) the deployment needs on"
                f" {s.resource_group}: {named}",
                details={**outputs, "missing_actions": [a for a, _ in missing]},
            )
        outputs["permissions"] = "every needed action is allowed"
    return outputs


def snapshot(session: AzureSession) -> dict[str, Any]:
    """Platform facts for the pre-deployment snapshot."""
    from azure.core.exceptions import HttpResponseError

    s = session.settings
    out: dict[str, Any] = {}
    try:
        site = session.web.web_apps.get(s.resource_group, s.app)
        out["app_state"] = site.state
        status = getattr(site, "slot_swap_status", None)
        if status is not None:
            out["last_swap"] = {
                "at": str(status.timestamp_utc),
                "source": status.source_slot_name,
                "destination": status.destination_slot_name,
            }
        latest = latest_deployment(session)
        out["latest_resource_group_deployment"] = latest.to_dict() if latest else None
    except HttpResponseError as exc:
        out["error"] = azure_reason(exc)
    return out
