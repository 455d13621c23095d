"""Azure Resource Manager deployments through the official SDK (azure-mgmt-resource).

What-if, start, look up and follow a resource-group deployment, and read its operations
when it fails. SDK errors become turnout errors here; the SDK's models become the typed
records below, so nothing past this module touches an SDK object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from turnout.config.arm import ArmInfraConfig
from turnout.config.azure import PUBLIC_CLOUD, AzureTargetConfig, resolve_value
from turnout.errors import ConfigError, IntegrationError, IntegrationUnavailable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from turnout.clock import Clock
    from turnout.config import EnvironmentConfig
    from turnout.integrations.arm_template import ArmTemplate

TERMINAL = frozenset({"Succeeded", "Failed", "Canceled"})
"""Provisioning states a deployment (or its roll back) ends in."""
CHANGE_TYPES = ("Create", "Delete", "Modify", "Deploy", "NoChange", "Ignore", "Unsupported")


@dataclass(frozen=True)
class ResourceChange:
    """One resource in ARM's what-if: what the deployment would do to it."""

    change_type: str
    """Create, Delete, Modify, Deploy, NoChange, Ignore or Unsupported (ARM's words)."""
    resource_id: str
    properties: tuple[str, ...] = ()
    """For a Modify: the property paths that change, with how (`+`, `-`, `~`)."""

    @property
    def deletes(self) -> bool:
        """Whether the deployment would delete this resource."""
        return self.change_type == "Delete"


@dataclass(frozen=True)
class WhatIf:
    """ARM's what-if of a deployment, resource by resource."""

    changes: tuple[ResourceChange, ...]

    @property
    def deletes(self) -> tuple[ResourceChange, ...]:
        """The resources it would delete."""
        return tuple(c for c in self.changes if c.deletes)

    def counts(self) -> dict[str, int]:
        """How many resources per change type (only the types present)."""
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.change_type] = out.get(change.change_type, 0) + 1
        return out


@dataclass(frozen=True)
class FailedOperation:
    """A resource operation of a deployment that failed, with ARM's error."""

    resource: str
    """TYPE/NAME of the resource."""
    code: str
    message: str


@dataclass(frozen=True)
class OnErrorState:
    """ARM's roll back of a failed deployment (onErrorDeployment), as ARM reports it."""

    type: str
    deployment_name: str | None
    """The earlier deployment ARM redeployed."""
    provisioning_state: str | None


@dataclass(frozen=True)
class DeploymentState:
    """A resource-group deployment as ARM reports it."""

    name: str
    provisioning_state: str
    correlation_id: str | None = None
    mode: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Output name -> value."""
    resources: tuple[str, ...] = ()
    """Resource ids the deployment deployed (outputResources)."""
    error: str | None = None
    """ARM's error, code and message, when it failed."""
    on_error: OnErrorState | None = None

    @property
    def done(self) -> bool:
        """Whether ARM has finished with it."""
        return self.provisioning_state in TERMINAL

    @property
    def rollback_done(self) -> bool:
        """Whether ARM's roll back (when there is one) has finished."""
        state = self.on_error.provisioning_state if self.on_error else None
        return self.on_error is None or state in TERMINAL or self.on_error.deployment_name is None


@dataclass
class ArmClient:
    """The deployments of one resource group, with the environment's Azure credential."""

    subscription: str
    resource_group: str
    endpoint: str
    credential: TokenCredential
    poll_interval: float
    _client: Any = field(default=None, repr=False)

    @property
    def sdk(self) -> Any:
        """azure-mgmt-resource's ResourceManagementClient (built on first use)."""
        if self._client is None:
            from azure.mgmt.resource import ResourceManagementClient

            self._client = ResourceManagementClient(
                self.credential,
                self.subscription,
                base_url=self.endpoint,
                credential_scopes=[f"{self.endpoint}/.default"],
                polling_interval=self.poll_interval,
                retry_total=4,
            )
        return self._client

    def what_if(self, name: str, template: ArmTemplate, mode: str) -> WhatIf:
        """ARM's what-if of deploying `template` as `name` (a long-running POST)."""
        from azure.mgmt.resource.resources.models import (
            DeploymentWhatIf,
            DeploymentWhatIfProperties,
        )

        body = DeploymentWhatIf(
            properties=DeploymentWhatIfProperties(
                mode=mode, template=template.template, parameters=_parameters(template)
            )
        )
        result = self._call(
            "what-if",
            lambda: self.sdk.deployments.begin_what_if(self.resource_group, name, body).result(),
        )
        if getattr(result, "error", None) is not None:
            raise IntegrationError(f"ARM what-if of {name}: {_error_text(result.error)}")
        return WhatIf(tuple(_change(c) for c in result.changes or ()))

    def get(self, name: str) -> DeploymentState | None:
        """The deployment named `name`, or None when ARM has none by that name."""
        try:
            found = self._call(
                "look-up", lambda: self.sdk.deployments.get(self.resource_group, name)
            )
        except _NotFound:
            return None
        return _state(found)

    def start(self, name: str, template: ArmTemplate, mode: str) -> Any:
        """PUT the deployment (with ARM's roll back to the last successful one on error);
        returns the SDK's poller of the long-running operation."""
        from azure.mgmt.resource.resources.models import (
            Deployment,
            DeploymentProperties,
            OnErrorDeployment,
        )

        body = Deployment(
            properties=DeploymentProperties(
                mode=mode,
                template=template.template,
                parameters=_parameters(template),
                on_error_deployment=OnErrorDeployment(type="LastSuccessful"),
            )
        )
        return self._call(
            "deployment",
            lambda: self.sdk.deployments.begin_create_or_update(self.resource_group, name, body),
        )

    def wait(self, poller: Any, timeout: float) -> None:
        """Follow the started deployment's long-running operation until it ends or
        `timeout` passes. A deployment that ends Failed raises in the SDK; that is not an
        error here: the deployment's own state, read next, says what happened."""
        from azure.core.exceptions import AzureError

        try:
            poller.result(timeout=timeout)
        except AzureError:
            return

    def follow(
        self,
        name: str,
        clock: Clock,
        *,
        timeout: float,
        progress: Callable[[str], None],
        until: Callable[[DeploymentState], bool],
    ) -> DeploymentState:
        """Look at the deployment every poll interval until `until` says so or `timeout`
        passes (a deployment started by an earlier run, or ARM's roll back)."""
        deadline = clock.monotonic() + timeout
        last = ""
        while True:
            state = self.get(name)
            if state is None:
                raise IntegrationError(f"ARM has no deployment {name} in {self.resource_group}")
            if until(state) or clock.monotonic() >= deadline:
                return state
            if state.provisioning_state != last:
                progress(f"ARM deployment {name}: {state.provisioning_state}")
                last = state.provisioning_state
            clock.sleep(self.poll_interval)

    def recent(self) -> list[DeploymentState]:
        """The group's deployments, newest first (ARM lists them in no order)."""
        found = self._call(
            "listing",
            lambda: list(self.sdk.deployments.list_by_resource_group(self.resource_group)),
        )
        listed = [(d.properties.timestamp, _state(d)) for d in found if d.properties is not None]
        listed.sort(key=lambda pair: pair[0].timestamp() if pair[0] else 0.0, reverse=True)
        return [state for _when, state in listed]

    def failed_operations(self, name: str) -> list[FailedOperation]:
        """The deployment's resource operations that failed, with ARM's own errors."""
        operations = self._call(
            "operations",
            lambda: list(self.sdk.deployment_operations.list(self.resource_group, name)),
        )
        return [f for f in (_failed(op) for op in operations) if f is not None]

    def close(self) -> None:
        """Release connections."""
        if self._client is not None:
            self._client.close()
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        try:
            return call()
        except ResourceNotFoundError as exc:
            if what == "look-up" and _code(exc) in {"DeploymentNotFound", "ResourceNotFound", None}:
                raise _NotFound from exc
            raise IntegrationError(f"ARM {what}: {_http_text(exc)}") from exc
        except ClientAuthenticationError as exc:
            raise IntegrationError(f"ARM {what}: not signed in: {exc.message}") from exc
        except HttpResponseError as exc:
            raise IntegrationError(f"ARM {what}: {_http_text(exc)}") from exc
        except ServiceRequestError as exc:
            raise IntegrationUnavailable(
                f"Azure Resource Manager ({self.endpoint}) does not answer: {exc.message}"
            ) from exc


class _NotFound(Exception):
    """ARM has no deployment by that name."""


def open_client(
    settings: ArmInfraConfig, env: EnvironmentConfig, *, file: str, key: str
) -> ArmClient:
    """A client for the resource group `settings` name, with the azure target's
    subscription and endpoint when the environment deploys to App Service."""
    try:
        import azure.mgmt.resource  # noqa: F401  # imported only to learn whether the extra is there
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            file,
            key,
            f"the arm infrastructure phase needs {exc.name}: pip install 'turnout[azure]'",
        ) from None
    target = env.target if isinstance(env.target, AzureTargetConfig) else None
    subscription = settings.subscription or (
        target.subscription if target else "env:AZURE_SUBSCRIPTION_ID"
    )
    endpoint = settings.management_endpoint or (
        target.management_endpoint if target else PUBLIC_CLOUD
    )
    resolved = resolve_value(subscription, file=file, key=f"{key}.subscription")
    try:
        credential = DefaultAzureCredential()
    except ValueError as exc:  # e.g. an invalid AZURE_TOKEN_CREDENTIALS value
        raise ConfigError(file, key, f"Azure credential: {exc}") from None
    return ArmClient(
        resolved, settings.resource_group, endpoint, credential, settings.poll_interval
    )


def _parameters(template: ArmTemplate) -> dict[str, Any]:
    """The SDK's DeploymentParameter per name, from ARM's wire shape ({"value": ...} or a
    Key Vault {"reference": ...})."""
    from azure.mgmt.resource.resources.models import DeploymentParameter

    return {
        name: DeploymentParameter.from_dict(entry) for name, entry in template.parameters.items()
    }


def _code(exc: Any) -> str | None:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None)


def _http_text(exc: Any) -> str:
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "code", None):
        return f"{error.code}: {error.message}"
    return str(getattr(exc, "message", exc)).splitlines()[0]


def _error_text(error: Any) -> str:
    """ARM's error with its innermost details (where the cause is)."""
    if error is None:
        return "no error reported"
    text = f"{getattr(error, 'code', None) or 'Error'}: {getattr(error, 'message', '') or ''}"
    details = [d for d in getattr(error, "details", None) or () if d is not None]
    if details:
        text += " (" + "; ".join(_error_text(d) for d in details) + ")"
    return text


def _resource_of(resource_id: str) -> str:
    """TYPE/NAME of a resource id (`.../providers/NS/T/N/T2/N2` -> NS/T/T2/N/N2)."""
    marker = "/providers/"
    tail = (
        resource_id[resource_id.lower().rfind(marker) + len(marker) :]
        if marker in resource_id.lower()
        else resource_id
    )
    parts = tail.strip("/").split("/")
    if len(parts) < 3:
        return tail
    namespace, rest = parts[0], parts[1:]
    types, names = rest[0::2], rest[1::2]
    return "/".join([namespace, *types, *names])


def resource_matches(resource_id: str, wanted: str) -> bool:
    """Whether a resource id is the TYPE/NAME `wanted` (case-insensitive, as ARM compares)."""
    return _resource_of(resource_id).lower() == wanted.strip("/").lower()


def _change(change: Any) -> ResourceChange:
    kind = str(change.change_type)
    properties: list[str] = []
    for delta in change.delta or ():
        mark = {"Create": "+", "Delete": "-", "Modify": "~", "Array": "~"}.get(
            str(delta.property_change_type), "~"
        )
        properties.append(f"{mark} {delta.path}")
    return ResourceChange(kind, str(change.resource_id or ""), tuple(properties))


def _state(found: Any) -> DeploymentState:
    props = found.properties
    outputs: dict[str, Any] = {}
    for name, entry in (props.outputs or {}).items():
        outputs[name] = entry.get("value") if isinstance(entry, dict) else entry
    on_error = None
    if props.on_error_deployment is not None:
        oe = props.on_error_deployment
        on_error = OnErrorState(str(oe.type), oe.deployment_name, oe.provisioning_state)
    return DeploymentState(
        name=str(found.name),
        provisioning_state=str(props.provisioning_state or "NotSpecified"),
        correlation_id=props.correlation_id,
        mode=None if props.mode is None else str(props.mode),
        outputs=outputs,
        resources=tuple(str(r.id) for r in props.output_resources or () if r.id),
        error=None if props.error is None else _error_text(props.error),
        on_error=on_error,
    )


def _failed(operation: Any) -> FailedOperation | None:
    props = operation.properties
    if props is None or props.provisioning_state != "Failed":
        return None
    target = props.target_resource
    resource = "deployment"
    if target is not None:
        resource = (
            f"{target.resource_type}/{target.resource_name}"
            if target.resource_type and target.resource_name
            else _resource_of(str(target.id or ""))
        )
    error = props.status_message.error if props.status_message is not None else None
    code = getattr(error, "code", None) or str(props.status_code or "Failed")
    message = getattr(error, "message", None) or "no message"
    return FailedOperation(resource, code, message)


def describe_changes(changes: Iterable[ResourceChange]) -> list[str]:
    """One line per resource: change type and TYPE/NAME."""
    return [f"{c.change_type:<9} {_resource_of(c.resource_id)}" for c in changes]
