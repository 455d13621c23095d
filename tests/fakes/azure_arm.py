"""Resource-group deployments of Azure Resource Manager for the fake Azure.

Mounted into `AzureServer` (same HTTPS endpoint, same principals), following the
documented contract (api-version ignored, paths matched case-insensitively):

- `PUT {rg}/providers/Microsoft.Resources/deployments/{name}`: 201, provisioningState
  Accepted, `Azure-AsyncOperation: .../deployments/{name}/operationStatuses/{id}`; the
  status answers Running until the deployment ends, then Succeeded or Failed with the
  error. A PUT on a deployment still running is 409 DeploymentActive. A template whose
  required parameter has no value, or that uses an expression the fake cannot evaluate,
  is 400 InvalidTemplate.
- `GET .../deployments/{name}`: the deployment (Accepted, Running, then Succeeded or
  Failed, with outputs, outputResources, error, and onErrorDeployment); 404
  DeploymentNotFound.
- `GET {rg}/deployments/{name}/operations`: one operation per resource, Failed ones with
  ARM's statusMessage error.
- `POST .../deployments/{name}/whatIf`: 202 + Location (a long-running POST whose final
  state is at the Location): 202 once more, then 200 with the changes: Create, Modify (with
  the property delta), NoChange; resources of the group the template does not name are
  Delete in Complete mode and Ignore in Incremental mode, as ARM reports them.

A deployment runs for `seconds` and ends only while `gate` is set. Resources in `failing`
(TYPE/NAME) fail with the given code and message. A failed deployment whose request asked
for `onErrorDeployment: LastSuccessful` makes ARM redeploy the group's last successful
deployment in Complete mode (its resources exactly), reported under the failed one's
onErrorDeployment.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.webhook_server import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from tests.fakes.azure_server import AzureServer

WRITE = "Microsoft.Resources/deployments/write"
READ = "Microsoft.Resources/deployments/read"
WHAT_IF = "Microsoft.Resources/deployments/whatIf/action"
_PARAMETER = re.compile(r"^\[parameters\('([^']+)'\)\]$")


@dataclass
class FakeResource:
    """A resource of the group: its type, name and properties as last deployed."""

    type: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeDeployment:
    """One deployment of the group's history."""

    name: str
    mode: str
    template: dict[str, Any]
    parameters: dict[str, Any]
    resources: list[FakeResource]
    outputs: dict[str, Any]
    on_error: str | None
    started: float = field(default_factory=time.time)
    state: str = "Accepted"
    finished: float | None = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    error: dict[str, Any] | None = None
    failed: list[tuple[FakeResource, str, str]] = field(default_factory=list)
    on_error_result: dict[str, Any] | None = None


class FakeArm:
    """The deployments of the server's resource group and the resources they made."""

    def __init__(self, server: AzureServer) -> None:
        self.server = server
        self.resources: dict[str, FakeResource] = {}
        """By lower-cased TYPE/NAME."""
        self.deployments: dict[str, FakeDeployment] = {}
        self.failing: dict[str, tuple[str, str]] = {}
        """TYPE/NAME -> (code, message) of resources whose deployment fails."""
        self.seconds = 0.3
        """How long a deployment runs."""
        self.gate = threading.Event()
        """A deployment ends only while this is set (a test clears it to hold one)."""
        self.gate.set()
        self._what_ifs: dict[str, tuple[int, dict[str, Any]]] = {}
        server.mount(self.handle)

    # -- set-up and observations ---------------------------------------------------------
    def add_resource(self, type_: str, name: str, **properties: Any) -> None:
        """A resource that is in the group already (made by hand or an earlier tool)."""
        with self.server.lock:
            self.resources[f"{type_}/{name}".lower()] = FakeResource(type_, name, properties)

    def resource_names(self) -> set[str]:
        """TYPE/NAME of every resource in the group now."""
        with self.server.lock:
            return {f"{r.type}/{r.name}" for r in self.resources.values()}

    def puts(self, name: str) -> int:
        """How many times a deployment of that name was PUT."""
        return self._requests("PUT", name)

    def gets(self, name: str) -> int:
        """How many times the deployment of that name was looked up (GET)."""
        return self._requests("GET", name)

    def _requests(self, method: str, name: str) -> int:
        suffix = f"/providers/microsoft.resources/deployments/{name.lower()}"
        with self.server.lock:
            return sum(
                1
                for r in self.server.requests
                if r.method == method and r.path.lower().rstrip("/").endswith(suffix)
            )

    # -- dispatch --------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response | None:
        """Answer the group's deployment requests; None for every other request."""
        server = self.server
        rg = f"/subscriptions/{server.subscription}/resourcegroups/{server.resource_group}"
        path = request.path.rstrip("/")
        lowered = path.lower()
        deployments = f"{rg}/providers/microsoft.resources/deployments/".lower()
        operations = re.fullmatch(
            re.escape(f"{rg}/deployments/".lower()) + r"([^/]+)/operations", lowered
        )
        if not (lowered.startswith(deployments) or operations):
            return None
        principal = server.principal_of(request)
        if principal is None:
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if operations:
            return self._checked(principal, READ, path) or self._operations(operations.group(1))
        rest = path[len(deployments) :].split("/")
        name = rest[0]
        if len(rest) == 1 and request.method == "PUT":
            return self._checked(principal, WRITE, path) or self._put(request, name, path)
        if len(rest) == 1 and request.method == "GET":
            return self._checked(principal, READ, path) or self._get(name)
        if len(rest) == 3 and rest[1].lower() == "operationstatuses":
            return self._status(name)
        if len(rest) == 2 and rest[1].lower() == "whatif" and request.method == "POST":
            return self._checked(principal, WHAT_IF, path) or self._what_if(request, name, path)
        if len(rest) == 3 and rest[1].lower() == "whatifresults":
            return self._what_if_result(rest[2], f"{self.server.url}{path}")
        return _error(404, "NotFound", f"The fake has no route {request.method} {path}")

    def _checked(self, principal: Any, action: str, path: str) -> Response | None:
        if principal.may(action):
            return None
        return _error(
            403,
            "AuthorizationFailed",
            f"The client with object id '{principal.object_id}' does not have authorization to"
            f" perform action '{action}' over scope '{path}' or the scope is invalid.",
        )

    # -- deployments -----------------------------------------------------------------------
    def _put(self, request: RecordedRequest, name: str, path: str) -> Response:
        body = request.json() or {}
        props = body.get("properties") or {}
        with self.server.lock:
            running = self.deployments.get(name.lower())
            if running is not None:
                self._settle(running)
                if running.state in {"Accepted", "Running"}:
                    return _error(
                        409,
                        "DeploymentActive",
                        f"The deployment with resource id '{path}' cannot be saved, because"
                        " this would overwrite an existing deployment which is still active.",
                    )
            try:
                resources, outputs = _evaluate(
                    props.get("template") or {}, props.get("parameters") or {}
                )
            except ValueError as exc:
                return _error(
                    400, "InvalidTemplate", f"Deployment template validation failed: '{exc}'."
                )
            on_error = (props.get("onErrorDeployment") or {}).get("type")
            deployment = FakeDeployment(
                name,
                str(props.get("mode", "Incremental")),
                props.get("template") or {},
                props.get("parameters") or {},
                resources,
                outputs,
                on_error,
            )
            self.deployments[name.lower()] = deployment
            document = self._document(deployment)
        status = f"{self.server.url}{path}/operationStatuses/{uuid.uuid4().hex}"
        return json_response(201, document, {"Azure-AsyncOperation": status})

    def _get(self, name: str) -> Response:
        with self.server.lock:
            deployment = self.deployments.get(name.lower())
            if deployment is None:
                return _error(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
            self._settle(deployment)
            return json_response(200, self._document(deployment))

    def _status(self, name: str) -> Response:
        with self.server.lock:
            deployment = self.deployments.get(name.lower())
            if deployment is None:
                return _error(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
            self._settle(deployment)
            if deployment.state in {"Accepted", "Running"}:
                return json_response(200, {"status": "Running"})
            document: dict[str, Any] = {"status": deployment.state}
            if deployment.error is not None:
                document["error"] = deployment.error
            return json_response(200, document)

    def _operations(self, name: str) -> Response:
        with self.server.lock:
            deployment = self.deployments.get(name.lower())
            if deployment is None:
                return _error(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
            self._settle(deployment)
            failed = {id(r): (code, message) for r, code, message in deployment.failed}
            value = []
            for resource in deployment.resources:
                state = "Running"
                if deployment.state == "Succeeded":
                    state = "Succeeded"
                elif deployment.state == "Failed":
                    state = "Failed" if id(resource) in failed else "Succeeded"
                props: dict[str, Any] = {
                    "provisioningOperation": "Create",
                    "provisioningState": state,
                    "timestamp": _iso(deployment.finished or deployment.started),
                    "statusCode": "BadRequest" if state == "Failed" else "OK",
                    "targetResource": {
                        "id": self._id(resource),
                        "resourceType": resource.type,
                        "resourceName": resource.name,
                    },
                }
                if id(resource) in failed:
                    code, message = failed[id(resource)]
                    props["statusMessage"] = {
                        "status": "Failed",
                        "error": {"code": code, "message": message},
                    }
                op = uuid.uuid5(uuid.NAMESPACE_URL, deployment.name + resource.name).hex.upper()
                value.append({"id": f"{self._rg_id}/deployments/{deployment.name}/operations/{op}",
                              "operationId": op, "properties": props})  # fmt: skip
            return json_response(200, {"value": value})

    def _settle(self, deployment: FakeDeployment) -> None:
        """Move a deployment (and ARM's roll back of it) on in time (caller holds the lock)."""
        if deployment.state not in {"Accepted", "Running"}:
            self._settle_roll_back(deployment)
            return
        if time.time() - deployment.started < self.seconds or not self.gate.is_set():
            deployment.state = "Running"
            return
        deployment.finished = time.time()
        failed = [
            (r, *self.failing[f"{r.type}/{r.name}"])
            for r in deployment.resources
            if f"{r.type}/{r.name}" in self.failing
        ]
        # What did deploy stays deployed: ARM does not undo a failed deployment's work.
        for resource in deployment.resources:
            if all(resource is not f[0] for f in failed):
                self.resources[f"{resource.type}/{resource.name}".lower()] = copy.deepcopy(resource)
        if deployment.mode == "Complete" and not failed:
            named = {f"{r.type}/{r.name}".lower() for r in deployment.resources}
            self.resources = {k: v for k, v in self.resources.items() if k in named}
        if not failed:
            deployment.state = "Succeeded"
            self._list(deployment)
            return
        deployment.state = "Failed"
        deployment.failed = failed
        deployment.error = {
            "code": "DeploymentFailed",
            "message": "At least one resource deployment operation failed. Please list"
            " deployment operations for details. Please see https://aka.ms/arm-deployment-operations"
            " for usage details.",
            "details": [{"code": code, "message": message} for _r, code, message in failed],
        }
        self._list(deployment)
        if deployment.on_error == "LastSuccessful":
            self._roll_back(deployment)

    def _roll_back(self, failed: FakeDeployment) -> None:
        """ARM starts redeploying the group's last successful deployment."""
        earlier = [
            d
            for d in self.deployments.values()
            if d.state == "Succeeded" and d is not failed and d.finished is not None
        ]
        if not earlier:
            failed.on_error_result = {"type": "LastSuccessful", "provisioningState": "Failed"}
            return
        last = max(earlier, key=lambda d: d.finished or 0.0)
        failed.on_error_result = {
            "type": "LastSuccessful",
            "deploymentName": last.name,
            "provisioningState": "Running",
        }

    def _settle_roll_back(self, failed: FakeDeployment) -> None:
        """The redeployment ends `seconds` after the failure: in Complete mode, the group
        holds exactly the last successful deployment's resources again."""
        result = failed.on_error_result
        if result is None or result.get("provisioningState") != "Running":
            return
        if time.time() - (failed.finished or 0.0) < self.seconds or not self.gate.is_set():
            return
        last = self.deployments[str(result["deploymentName"]).lower()]
        self.resources = {f"{r.type}/{r.name}".lower(): copy.deepcopy(r) for r in last.resources}
        result["provisioningState"] = "Succeeded"

    def _list(self, deployment: FakeDeployment) -> None:
        """Show it in the server's resource-group deployment list (what the snapshot reads)."""
        from tests.fakes.azure_server import ResourceDeployment

        stamp = datetime.fromtimestamp(deployment.finished or deployment.started, UTC)
        self.server.resource_deployments.append(
            ResourceDeployment(deployment.name, stamp, deployment.state)
        )

    @property
    def _rg_id(self) -> str:
        s = self.server
        return f"/subscriptions/{s.subscription}/resourceGroups/{s.resource_group}"

    def _id(self, resource: FakeResource) -> str:
        namespace, *types = resource.type.split("/")
        names = resource.name.split("/")
        pairs = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=False))
        return f"{self._rg_id}/providers/{namespace}/{pairs}"

    def _document(self, deployment: FakeDeployment) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": deployment.state,
            "mode": deployment.mode,
            "correlationId": deployment.correlation_id,
            "timestamp": _iso(deployment.finished or deployment.started),
            "templateHash": str(abs(hash(str(deployment.template)))),
            "parameters": {k: {"type": "String", **v} for k, v in deployment.parameters.items()},
        }
        if deployment.on_error is not None:
            props["onErrorDeployment"] = deployment.on_error_result or {"type": deployment.on_error}
        if deployment.state == "Succeeded":
            props["outputs"] = {
                k: {"type": type(v).__name__.replace("str", "String"), "value": v}
                for k, v in deployment.outputs.items()
            }
            props["outputResources"] = [{"id": self._id(r)} for r in deployment.resources]
        if deployment.state == "Failed":
            props["error"] = deployment.error
            props["outputResources"] = [
                {"id": self._id(r)}
                for r in deployment.resources
                if all(r is not f[0] for f in deployment.failed)
            ]
        return {
            "id": f"{self._rg_id}/providers/Microsoft.Resources/deployments/{deployment.name}",
            "name": deployment.name,
            "type": "Microsoft.Resources/deployments",
            "properties": props,
        }

    # -- what-if ---------------------------------------------------------------------------
    def _what_if(self, request: RecordedRequest, name: str, path: str) -> Response:
        props = (request.json() or {}).get("properties") or {}
        try:
            resources, _outputs = _evaluate(
                props.get("template") or {}, props.get("parameters") or {}
            )
        except ValueError as exc:
            return _error(
                400, "InvalidTemplate", f"Deployment template validation failed: '{exc}'."
            )
        mode = str(props.get("mode", "Incremental"))
        changes: list[dict[str, Any]] = []
        with self.server.lock:
            named = set()
            for resource in resources:
                key = f"{resource.type}/{resource.name}".lower()
                named.add(key)
                before = self.resources.get(key)
                after = {
                    "type": resource.type,
                    "name": resource.name,
                    "properties": resource.properties,
                }
                if before is None:
                    changes.append(
                        {"resourceId": self._id(resource), "changeType": "Create", "after": after}
                    )
                    continue
                delta = _delta(before.properties, resource.properties)
                changes.append(
                    {
                        "resourceId": self._id(resource),
                        "changeType": "Modify" if delta else "NoChange",
                        "before": {
                            "type": before.type,
                            "name": before.name,
                            "properties": before.properties,
                        },
                        "after": after,
                        **({"delta": delta} if delta else {}),
                    }
                )
            for key, resource in self.resources.items():
                if key not in named:
                    changes.append(
                        {
                            "resourceId": self._id(resource),
                            "changeType": "Delete" if mode == "Complete" else "Ignore",
                        }
                    )
            operation = uuid.uuid4().hex
            self._what_ifs[operation] = (
                0,
                {"status": "Succeeded", "properties": {"changes": changes}},
            )
        location = f"{self.server.url}{path.rsplit('/', 2)[0]}/{name}/whatIfResults/{operation}"
        return 202, {"Location": location, "Retry-After": "0"}, b""

    def _what_if_result(self, operation: str, url: str) -> Response:
        with self.server.lock:
            polls, result = self._what_ifs.get(operation, (0, None))
            if result is None:
                return _error(404, "NotFound", f"No what-if operation {operation}.")
            if polls == 0:  # still computing at the first look, as ARM usually is
                self._what_ifs[operation] = (1, result)
                return 202, {"Location": url, "Retry-After": "0"}, b""
            return json_response(200, result)


def _evaluate(
    template: dict[str, Any], parameters: dict[str, Any]
) -> tuple[list[FakeResource], dict[str, Any]]:
    """The template's resources and outputs with `[parameters('x')]` filled in (the only
    expression the fake evaluates)."""
    declared = template.get("parameters") or {}
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in parameters and "value" in parameters[name]:
            values[name] = parameters[name]["value"]
        elif isinstance(spec, dict) and "defaultValue" in spec:
            values[name] = spec["defaultValue"]
        else:
            raise ValueError(f"The value for the template parameter '{name}' is not provided")

    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("[") and not value.startswith("[["):
            match = _PARAMETER.match(value)
            if match is None or match.group(1) not in values:
                raise ValueError(f"The template expression '{value}' is not valid here")
            return values[match.group(1)]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    resources = [
        FakeResource(str(fill(r["type"])), str(fill(r["name"])), fill(r.get("properties") or {}))
        for r in template.get("resources") or []
    ]
    outputs = {k: fill(v.get("value")) for k, v in (template.get("outputs") or {}).items()}
    return resources, outputs


def _delta(
    before: dict[str, Any], after: dict[str, Any], prefix: str = "properties"
) -> list[dict[str, Any]]:
    """What-if's property changes between two property objects."""
    changes: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}.{key}"
        if key not in before:
            changes.append({"path": path, "propertyChangeType": "Create", "after": after[key]})
        elif key not in after:
            changes.append({"path": path, "propertyChangeType": "Delete", "before": before[key]})
        elif before[key] != after[key]:
            changes.append(
                {
                    "path": path,
                    "propertyChangeType": "Modify",
                    "before": before[key],
                    "after": after[key],
                }
            )
    return changes


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})
