"""`turnout doctor` probes for an azure target: credential, app and slot, permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from turnout.config.azure import AzureTargetConfig
from turnout.errors import TurnoutError
from turnout.targets.azure.access import required_actions
from turnout.targets.azure.failures import azure_reason
from turnout.targets.azure.platform import missing_permissions
from turnout.targets.azure.sdk import AzureSession, open_session

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig

Check = Callable[[], str]


def azure_probes(config: LoadedConfig, env: EnvironmentConfig) -> list[tuple[str, Check]]:
    """Named checks, each returning a line for people or raising TurnoutError."""
    settings = env.target
    assert isinstance(settings, AzureTargetConfig)
    key = f"environments.{env.name}.target"
    holder: list[AzureSession] = []

    def session() -> AzureSession:
        if not holder:
            holder.append(open_session(settings, file=str(config.path), key=key))
        return holder[0]

    metrics = env.analysis.provider == "azure-monitor"
    return [
        ("azure credential", lambda: _credential(session())),
        ("azure app", lambda: _app(session())),
        ("azure permissions", lambda: _permissions(session(), metrics=metrics)),
    ]


def _credential(session: AzureSession) -> str:
    from azure.core.exceptions import ClientAuthenticationError

    try:
        session.token()
    except ClientAuthenticationError as exc:
        raise TurnoutError(
            f"DefaultAzureCredential found no usable credential: {azure_reason(exc)}"
        ) from None
    return f"token acquired for {session.scope} (DefaultAzureCredential)"


def _app(session: AzureSession) -> str:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    s = session.settings
    apps = session.web.web_apps
    try:
        site = apps.get(s.resource_group, s.app)
    except HttpResponseError as exc:
        raise TurnoutError(
            f"cannot read app {s.app} in {s.resource_group}: {azure_reason(exc)}"
        ) from None
    parts = [f"{s.app} is {site.state} at {site.default_host_name}"]
    try:
        slot = apps.get_slot(s.resource_group, s.app, s.staging_slot)
        parts.append(f"slot {s.staging_slot} is {slot.state} at {slot.default_host_name}")
        if getattr(slot, "target_swap_slot", None):
            parts.append(
                f"slot {s.staging_slot} is prepared for swap with {slot.target_swap_slot}"
                " (a swap with preview is pending)"
            )
    except ResourceNotFoundError:
        parts.append(f"slot {s.staging_slot} does not exist yet (the stage step creates it)")
    except HttpResponseError as exc:
        raise TurnoutError(f"cannot read slot {s.staging_slot}: {azure_reason(exc)}") from None
    return "; ".join(parts)


def _permissions(session: AzureSession, *, metrics: bool) -> str:
    from azure.core.exceptions import HttpResponseError

    s = session.settings
    try:
        missing = missing_permissions(session, metrics=metrics)
    except HttpResponseError as exc:
        raise TurnoutError(
            f"cannot read the caller's permissions on {s.resource_group}: {azure_reason(exc)}"
        ) from None
    if missing:
        named = "; ".join(f"{action} ({why})" for action, why in missing)
        raise TurnoutError(
            f"the caller lacks {len(missing)} needed action(s) on {s.resource_group}: {named}"
        )
    needed = required_actions(s, metrics=metrics)
    return f"the caller holds all {len(needed)} actions a deployment needs on {s.resource_group}"
