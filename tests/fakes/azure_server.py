"""A local, stateful Azure for one App Service app: ARM, Kudu, front door, Monitor, Logs.

One HTTPS server (a certificate from the test's CA) plays every part the official SDK
clients talk to, following the documented REST contracts:

- ARM (`management_endpoint`): sites and slots (GET/PUT, list), app settings (list /
  replace), slotConfigNames, the site configuration (`config/web`: GET, PATCH merging
  its properties, PUT replacing them) with routing rules (`experiments.rampUpRules`,
  each with a unique `name`, an `actionHostName` that is a slot's host and a
  `reroutePercentage` in [0, 100]; others are a 400), `slotsswap` as a long-running
  operation (202 + Location + Retry-After, 202 while running, 200 with the Site at the
  end, an ARM error body when the platform stops it), applySlotConfig / resetSlotConfig
  (swap with preview), Microsoft.Authorization permissions, resource-group deployments, and
  Microsoft.Insights metrics (Requests, Http5xx, HttpResponseTime per slot resource).
  Bearer tokens map to principals whose actions are checked per route (403
  AuthorizationFailed names the action, as ARM does).
- Host names (`*.azurewebsites.net`, `*.scm.azurewebsites.net`) are reached through the
  same server acting as an HTTPS proxy (HTTPS_PROXY): CONNECT is intercepted with a
  certificate for the name. Each slot's host is a front door forwarding to the process
  that runs the slot's deployed package; the SCM host is Kudu (`/api/publish` OneDeploy,
  `/api/deployments/{id|latest}`).
- Resource Health (api-version 2022-10-01): the subscription's Service Health events
  (`/subscriptions/{sub}/providers/Microsoft.ResourceHealth/events`, two per page with an
  absolute `nextLink`) and any resource's
  `/providers/Microsoft.ResourceHealth/availabilityStatuses/current` (Available unless a
  test says otherwise); `health_down` answers both 503.
- Log Analytics (`/v1/workspaces/{id}/query`): the `AppRequests` rows the front door
  recorded (sampling weight in ItemCount), visible only `appinsights_delay` seconds after
  they happened, answering the KQL shape turnout sends; anything else is a 400.

The production host's front door applies the routing rules as App Service does: a client
whose `x-ms-routing-name` cookie names a rule (or `self`) keeps that slot; any other is
given a rule's slot with its reroute percentage's chance, else production, and the answer
sets the cookie to the rule's name (`self` for production).

A swap exchanges the slots' processes (the content) and their non-sticky app settings;
sticky names (slotConfigNames) stay. Before it does, it pings the source's
WEBSITE_SWAP_WARMUP_PING_PATH like the platform and fails with 417 when that fails.

Other Azure services live in their own modules and are mounted with `mount()`: each
answers the requests that are its own (before the routes above), and may ask the proxy
to intercept a further domain for its data-plane hosts.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.webhook_server import FakeHttpServer, RecordedRequest, Response, json_response

AZUREWEBSITES = "azurewebsites.net"
EVERYTHING = ["*"]

Route = Callable[[RecordedRequest], "Response | None"]
"""A mounted service: its answer to a request, or None when the request is not its own."""


@dataclass
class Principal:
    """Who a bearer token belongs to and what Microsoft.Authorization lets it do."""

    object_id: str
    actions: list[str] = field(default_factory=lambda: list(EVERYTHING))
    not_actions: list[str] = field(default_factory=list)

    def may(self, action: str) -> bool:
        """Whether `action` matches an allowed pattern and no excluded one (case-insensitive)."""

        def matches(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatch(action.lower(), p.lower()) for p in patterns)

        return matches(self.actions) and not matches(self.not_actions)


@dataclass
class RequestRecord:
    """One request the front door served (App Insights and Monitor read these)."""

    at: float
    slot: str
    host: str
    path: str
    status: int
    duration_ms: float
    item_count: int = 1


ROUTING_COOKIE = "x-ms-routing-name"
"""The cookie App Service pins a client to the slot a routing rule gave it with."""


@dataclass
class KuduDeploymentRecord:
    """One OneDeploy as Kudu reports it."""

    id: str
    status: int = 0
    status_text: str = "Received"
    complete: bool = False
    received: float = field(default_factory=time.time)

    def to_json(self, scm: str) -> dict[str, Any]:
        """Kudu's DeployResult JSON."""
        stamp = datetime.fromtimestamp(self.received, UTC).isoformat()
        return {
            "id": self.id,
            "status": self.status,
            "status_text": self.status_text,
            "author": "N/A",
            "deployer": "OneDeploy",
            "message": "OneDeploy",
            "progress": "",
            "received_time": stamp,
            "start_time": stamp,
            "end_time": stamp if self.complete else None,
            "complete": self.complete,
            "active": self.complete and self.status == 4,
            "is_temp": False,
            "is_readonly": False,
            "url": f"https://{scm}/api/deployments/{self.id}",
            "log_url": f"https://{scm}/api/deployments/{self.id}/log",
            "site_name": scm.split(".")[0],
            "provisioningState": "Succeeded" if self.status == 4 else "Failed",
        }


@dataclass
class Content:
    """What is deployed in a slot: an unpacked package and the process running it."""

    folder: Path
    process: subprocess.Popen[bytes] | None = None
    port: int | None = None


@dataclass
class FakeSlot:
    """One slot (production is the site itself)."""

    name: str
    host: str
    scm_host: str
    settings: dict[str, str] = field(default_factory=dict)
    content: Content | None = None
    state: str = "Running"
    target_swap_slot: str | None = None
    own_sticky: dict[str, str] | None = None
    """Swap with preview: the slot's own sticky values while production's are applied."""
    deployments: list[KuduDeploymentRecord] = field(default_factory=list)
    swap_status: dict[str, Any] | None = None
    site_config: dict[str, Any] = field(default_factory=dict)
    """The slot's siteConfig properties a client set (`config/web`), e.g. `experiments`."""


@dataclass
class SwapOperation:
    """A running or finished slotsswap."""

    id: str
    source: str
    started: float
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    finished: float | None = None
    """When the platform ended it (unix time)."""


@dataclass
class ResourceDeployment:
    """A resource-group deployment (ARM template) as listed by Microsoft.Resources."""

    name: str
    timestamp: datetime
    state: str = "Succeeded"


class AzureServer(FakeHttpServer):
    """One subscription, one resource group, one App Service app with slots."""

    def __init__(
        self,
        ca: Any,
        workdir: Path,
        *,
        subscription: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "tesoro-production-rg",
        app: str = "tesoro-production-app-x7k2",
        location: str = "westeurope",
        workspace_id: str = "11111111-2222-3333-4444-555555555555",
    ) -> None:
        arm_cert = ca.issue_cert("127.0.0.1", "localhost")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        arm_cert.configure_cert(tls)
        super().__init__(tls=tls)
        self.ca = ca
        self.routes: list[Route] = []
        hosts = ca.issue_cert(f"*.{AZUREWEBSITES}", f"*.scm.{AZUREWEBSITES}")
        self._host_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        hosts.configure_cert(self._host_tls)
        self.proxy = _FrontProxy(self, _SuffixContexts(AZUREWEBSITES, self._host_tls))
        self.workdir = workdir
        self.subscription = subscription
        self.resource_group = resource_group
        self.app = app
        self.location = location
        self.workspace_id = workspace_id
        self.principals: dict[str, Principal] = {}
        self.slots: dict[str, FakeSlot] = {"production": self._new_slot("production")}
        self.sticky: list[str] = []
        self.operations: dict[str, SwapOperation] = {}
        self.records: list[RequestRecord] = []
        self.resource_deployments: list[ResourceDeployment] = []
        # Knobs a test turns.
        self.swap_seconds = 0.3
        """How long a swap runs before the platform finishes it."""
        self.swap_gate = threading.Event()
        """A swap finishes only once this is set (and swap_seconds passed): a test clears it
        to hold swaps in progress for as long as it needs, however slow the machine."""
        self.swap_gate.set()
        self.build_seconds = 0.0
        """How long a OneDeploy stays in Building before it deploys."""
        self.build_gate = threading.Event()
        """A OneDeploy leaves Building only once this is set (like swap_gate)."""
        self.build_gate.set()
        self.warmup_refused: set[str] = set()
        """Slots whose warm-up ping the platform cannot get an answer from (417)."""
        self.appinsights_delay = 0.0
        """Seconds before a request shows up in Log Analytics."""
        self.metrics_delay = 0.0
        """Seconds before a minute's platform metrics have values."""
        self.sampling = 1
        """App Insights keeps every n-th request, with ItemCount n."""
        self.start_timeout = 20.0
        self.on_publish: Callable[[], None] | None = None
        """Called when a OneDeploy arrives (a test acting as a person at that moment)."""
        self.health_events: list[dict[str, Any]] = []
        """Service Health events of the subscription, as Resource Health returns them."""
        self.availability: dict[str, str] = {}
        """availabilityState by lower-cased resource id (absent: Available)."""
        self.health_down = False
        """Resource Health answers 503 (the status source is unreachable)."""
        self._sampled = 0
        self._stopping = threading.Event()

    # -- set-up ----------------------------------------------------------------------------
    def add_principal(self, token: str, actions: list[str] | None = None, **kw: Any) -> Principal:
        """A token and the principal it stands for (Contributor-like `*` by default)."""
        principal = Principal(kw.get("object_id", str(uuid.uuid4())), actions or list(EVERYTHING))
        principal.not_actions = list(kw.get("not_actions", []))
        self.principals[token] = principal
        return principal

    def add_health_event(
        self,
        tracking_id: str,
        title: str,
        *,
        event_type: str = "ServiceIssue",
        service: str = "App Service",
        region: str = "West Europe",
        status: str = "Active",
    ) -> None:
        """A Service Health event on the subscription, impacting a service in a region."""
        with self.lock:
            self.health_events.append(
                {
                    "id": f"/subscriptions/{self.subscription}/providers"
                    f"/Microsoft.ResourceHealth/events/{tracking_id}",
                    "name": tracking_id,
                    "type": "/providers/Microsoft.ResourceHealth/events",
                    "properties": {
                        "eventType": event_type,
                        "eventSource": "ServiceHealth",
                        "status": status,
                        "title": title,
                        "summary": f"<p>{title}</p>",
                        "level": "Warning",
                        "impactStartTime": "2026-12-02T08:30:00Z",
                        "lastUpdateTime": "2026-12-02T08:45:00Z",
                        "impact": [
                            {
                                "impactedService": service,
                                "impactedRegions": [{"impactedRegion": region, "status": status}],
                            }
                        ],
                    },
                }
            )

    def mount(self, route: Route, *, host_suffix: str | None = None) -> None:
        """Serve another service's routes (its own module) from this server; with
        `host_suffix` (e.g. vault.azure.net) the proxy also intercepts `*.host_suffix`."""
        if host_suffix is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(f"*.{host_suffix}").configure_cert(context)
            self.proxy.contexts.add(host_suffix, context)
        with self.lock:
            self.routes.append(route)

    def principal_of(self, request: RecordedRequest) -> Principal | None:
        """The principal a request's bearer token stands for (None: no valid token)."""
        return self._principal(request)

    def add_slot(self, name: str) -> None:
        """Create a slot as a person would in the portal (empty, no settings)."""
        with self.lock:
            self.slots[name] = self._new_slot(name)

    def prepare_swap(self, slot: str, target: str = "production") -> None:
        """A person's swap with preview, phase 1: `slot` is prepared for a swap with `target`."""
        with self.lock:
            self.slots[slot].target_swap_slot = target
            self.slots[target].target_swap_slot = slot

    def set_setting(self, slot: str, name: str, value: str, *, sticky: bool = False) -> None:
        """Set an app setting of a slot (a slot setting, kept by its slot, when `sticky`)."""
        with self.lock:
            if sticky and name not in self.sticky:
                self.sticky.append(name)
            self.slots[slot].settings[name] = value

    def _new_slot(self, name: str) -> FakeSlot:
        if name == "production":
            base = self.app
        else:
            # The platform truncates and appends random characters: never build it by string.
            base = f"{self.app[:40]}-{name[:19]}-{secrets.token_hex(2)}"
        return FakeSlot(name, f"{base}.{AZUREWEBSITES}", f"{base}.scm.{AZUREWEBSITES}")

    @property
    def site_id(self) -> str:
        """The site's resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.app}"
        )

    def slot_id(self, slot: str) -> str:
        """A slot's resource id."""
        return self.site_id if slot == "production" else f"{self.site_id}/slots/{slot}"

    @property
    def proxy_url(self) -> str:
        """HTTPS_PROXY value that reaches the app's host names."""
        return self.proxy.url

    def start(self) -> AzureServer:
        """Serve ARM/Logs and the proxy in background threads."""
        self.proxy.start()
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving and every slot process."""
        self._stopping.set()
        self.proxy.stop()
        with self.lock:
            contents = [s.content for s in self.slots.values() if s.content is not None]
        for content in contents:
            _stop(content)
        super().stop()

    # -- observations for tests ------------------------------------------------------------
    def version_in(self, slot: str) -> str | None:
        """The version the slot's app answers /health with (asks the running process)."""
        with self.lock:
            content = self.slots[slot].content
        if content is None or content.port is None:
            return None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", content.port, timeout=5)
            conn.request("GET", "/health")
            version = json.loads(conn.getresponse().read()).get("version")
            conn.close()
            return str(version) if version is not None else None
        except (OSError, ValueError):
            return None

    def slot_names(self) -> set[str]:
        """The app's slots now (production included)."""
        with self.lock:
            return set(self.slots)

    def settings_of(self, slot: str) -> dict[str, str]:
        """A copy of a slot's app settings now."""
        with self.lock:
            return dict(self.slots[slot].settings)

    def host_name(self, slot: str) -> str:
        """The host name a slot's app answers on."""
        with self.lock:
            return self.slots[slot].host

    def sticky_names(self) -> list[str]:
        """The app's slot setting names (slotConfigNames) now."""
        with self.lock:
            return list(self.sticky)

    def swaps(self, status: str | None = None) -> list[SwapOperation]:
        """Swap operations so far."""
        with self.lock:
            return [o for o in self.operations.values() if status in (None, o.status)]

    # -- dispatch --------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        with self.lock:
            routes = list(self.routes)
        for route in routes:
            answer = route(request)
            if answer is not None:
                return answer
        host = request.host.lower()
        if host.endswith(f".scm.{AZUREWEBSITES}"):
            return self._kudu(request, host)
        if host.endswith(f".{AZUREWEBSITES}"):
            return self._front_door(request, host)
        principal = self._principal(request)
        if principal is None:
            return _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        path = request.path.rstrip("/")
        lowered = path.lower()
        if lowered.startswith("/v1/workspaces/"):
            return self._logs(request, path)
        if "/providers/microsoft.insights/metrics" in lowered:
            return self._checked(
                principal, "Microsoft.Insights/metrics/read", path
            ) or self._metrics(request, path)
        if "/providers/microsoft.resourcehealth/" in lowered:
            return self._resource_health(request, principal, path)
        rg = f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}".lower()
        if lowered == f"{rg}/providers/microsoft.authorization/permissions":
            return json_response(200, {"value": [self._permission(principal)]})
        if lowered == f"{rg}/providers/microsoft.resources/deployments":
            return self._checked(principal, "Microsoft.Resources/deployments/read", path) or (
                self._deployments()
            )
        site = self.site_id.lower()
        if lowered == site or lowered.startswith(site + "/"):
            return self._site(request, principal, path[len(site) :])
        return _arm_error(404, "ResourceNotFound", f"The resource '{path}' was not found.")

    def _resource_health(
        self, request: RecordedRequest, principal: Principal, path: str
    ) -> Response:
        if self.health_down:
            return _arm_error(503, "ServiceUnavailable", "Resource Health is unavailable.")
        lowered = path.lower()
        events = f"/subscriptions/{self.subscription}/providers/microsoft.resourcehealth/events"
        if lowered == events and request.method == "GET":
            denied = self._checked(principal, "Microsoft.ResourceHealth/events/read", path)
            if denied:
                return denied
            skip = int((request.query.get("$skiptoken") or ["0"])[0])
            with self.lock:
                page = self.health_events[skip : skip + 2]
                more = skip + 2 < len(self.health_events)
            document: dict[str, Any] = {"value": page}
            if more:
                document["nextLink"] = (
                    f"{self.url}{path}?api-version=2022-10-01&$skiptoken={skip + 2}"
                )
            return json_response(200, document)
        suffix = "/providers/microsoft.resourcehealth/availabilitystatuses/current"
        if lowered.endswith(suffix) and request.method == "GET":
            resource = path[: -len(suffix)]
            action = "Microsoft.ResourceHealth/AvailabilityStatuses/read"
            denied = self._checked(principal, action, resource)
            if denied:
                return denied
            with self.lock:
                state = self.availability.get(resource.lower(), "Available")
            return json_response(
                200,
                {
                    "id": f"{resource}{suffix}",
                    "name": "current",
                    "type": "Microsoft.ResourceHealth/AvailabilityStatuses",
                    "location": self.location,
                    "properties": {
                        "availabilityState": state,
                        "summary": "There aren't any known Azure platform problems"
                        if state == "Available"
                        else f"The resource is {state.lower()} because of a platform problem.",
                        "reasonChronicity": "Persistent",
                        "occuredTime": "2026-12-02T08:40:00Z",
                    },
                },
            )
        return _arm_error(404, "ResourceNotFound", f"The resource '{path}' was not found.")

    def _principal(self, request: RecordedRequest) -> Principal | None:
        auth = request.headers.get("authorization", "")
        return self.principals.get(auth[7:]) if auth.startswith("Bearer ") else None

    def _checked(self, principal: Principal, action: str, scope: str) -> Response | None:
        if principal.may(action):
            return None
        return _arm_error(
            403,
            "AuthorizationFailed",
            f"The client '{principal.object_id}' with object id '{principal.object_id}' does not"
            f" have authorization to perform action '{action}' over scope '{scope}' or the scope"
            " is invalid. If access was recently granted, please refresh your credentials.",
        )

    def _permission(self, principal: Principal) -> dict[str, Any]:
        return {
            "actions": list(principal.actions),
            "notActions": list(principal.not_actions),
            "dataActions": [],
            "notDataActions": [],
        }

    # -- ARM: sites and slots --------------------------------------------------------------
    def _site(self, request: RecordedRequest, principal: Principal, rest: str) -> Response:
        parts = [p for p in rest.split("/") if p]
        lowered = [p.lower() for p in parts]
        slot_name = "production"
        if lowered[:1] == ["slots"]:
            if len(parts) == 1:
                return self._checked(principal, "Microsoft.Web/sites/slots/read", rest) or (
                    self._list_slots()
                )
            slot_name = parts[1]
            lowered, parts = lowered[2:], parts[2:]
        kind = "sites" if slot_name == "production" else "sites/slots"
        scope = self.slot_id(slot_name)
        method = request.method
        with self.lock:
            slot = self.slots.get(slot_name)
        if not lowered:
            if method == "GET":
                return self._checked(principal, f"Microsoft.Web/{kind}/read", scope) or (
                    json_response(200, self._site_json(slot))
                    if slot
                    else _arm_error(404, "ResourceNotFound", f"slot {slot_name} not found")
                )
            if method == "PUT" and slot_name != "production":
                return self._checked(principal, "Microsoft.Web/sites/slots/write", scope) or (
                    self._create_slot(slot_name)
                )
        if slot is None:
            return _arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{self.app}/slots/{slot_name}' under resource"
                f" group '{self.resource_group}' was not found.",
            )
        joined = "/".join(lowered)
        if joined == "config/appsettings/list" and method == "POST":
            return self._checked(principal, f"Microsoft.Web/{kind}/config/list/action", scope) or (
                json_response(200, self._settings_json(slot))
            )
        if joined == "config/appsettings" and method == "PUT":
            return self._checked(principal, f"Microsoft.Web/{kind}/config/write", scope) or (
                self._put_settings(slot, request.json())
            )
        if joined == "config/slotconfignames" and slot_name == "production":
            if method == "GET":
                return self._checked(principal, "Microsoft.Web/sites/config/read", scope) or (
                    json_response(200, self._sticky_json())
                )
            if method == "PUT":
                return self._checked(principal, "Microsoft.Web/sites/config/write", scope) or (
                    self._put_sticky(request.json())
                )
        if joined == "config/web" and method == "GET":
            return self._checked(principal, f"Microsoft.Web/{kind}/config/read", scope) or (
                json_response(200, self._site_config_json(slot))
            )
        if joined == "config/web" and method in {"PATCH", "PUT"}:
            return self._checked(principal, f"Microsoft.Web/{kind}/config/write", scope) or (
                self._put_site_config(slot, request.json(), merge=method == "PATCH")
            )
        if joined == "slotsswap" and method == "POST":
            return self._checked(principal, f"Microsoft.Web/{kind}/slotsswap/action", scope) or (
                self._start_swap(slot, request.json())
            )
        if len(lowered) == 2 and lowered[0] == "operationresults" and method == "GET":
            return self._operation(lowered[1])
        if joined == "applyslotconfig" and method == "POST":
            return self._checked(
                principal, f"Microsoft.Web/{kind}/applySlotConfig/action", scope
            ) or self._apply(slot, request.json())
        if joined == "resetslotconfig" and method == "POST":
            return self._checked(
                principal, f"Microsoft.Web/{kind}/resetSlotConfig/action", scope
            ) or self._reset(slot)
        return _arm_error(404, "NotFound", f"no route {method} {rest}")

    def _site_json(self, slot: FakeSlot) -> dict[str, Any]:
        production = slot.name == "production"
        return {
            "id": self.slot_id(slot.name),
            "name": self.app if production else f"{self.app}/{slot.name}",
            "type": "Microsoft.Web/sites" if production else "Microsoft.Web/sites/slots",
            "kind": "app,linux",
            "location": self.location,
            "properties": {
                "state": slot.state,
                "defaultHostName": slot.host,
                "hostNames": [slot.host],
                "enabledHostNames": [slot.host, slot.scm_host],
                "hostNameSslStates": [
                    {"name": slot.host, "sslState": "Disabled", "hostType": "Standard"},
                    {"name": slot.scm_host, "sslState": "Disabled", "hostType": "Repository"},
                ],
                "targetSwapSlot": slot.target_swap_slot,
                "slotSwapStatus": slot.swap_status,
                "httpsOnly": True,
            },
        }

    def _list_slots(self) -> Response:
        with self.lock:
            others = [s for name, s in self.slots.items() if name != "production"]
            return json_response(200, {"value": [self._site_json(s) for s in others]})

    def _create_slot(self, name: str) -> Response:
        with self.lock:
            if name not in self.slots:
                self.slots[name] = self._new_slot(name)
            return json_response(200, self._site_json(self.slots[name]))

    def _settings_json(self, slot: FakeSlot) -> dict[str, Any]:
        with self.lock:
            return {
                "id": f"{self.slot_id(slot.name)}/config/appsettings",
                "name": "appsettings",
                "type": "Microsoft.Web/sites/config",
                "properties": dict(slot.settings),
            }

    def _put_settings(self, slot: FakeSlot, body: Any) -> Response:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _arm_error(400, "BadRequest", "properties must be an object of strings")
        with self.lock:
            slot.settings = {str(k): str(v) for k, v in properties.items()}
        return json_response(200, self._settings_json(slot))

    def _sticky_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": None,
                "name": self.app,
                "type": "Microsoft.Web/sites",
                "properties": {
                    "connectionStringNames": [],
                    "appSettingNames": list(self.sticky),
                    "azureStorageConfigNames": [],
                },
            }

    def _put_sticky(self, body: Any) -> Response:
        names = (
            (body.get("properties") or {}).get("appSettingNames")
            if isinstance(body, dict)
            else None
        )
        with self.lock:
            self.sticky = [str(n) for n in names or []]
        return json_response(200, self._sticky_json())

    def _site_config_json(self, slot: FakeSlot) -> dict[str, Any]:
        with self.lock:
            properties = {"numberOfWorkers": 1, "http20Enabled": True, **slot.site_config}
            return {
                "id": f"{self.slot_id(slot.name)}/config/web",
                "name": "web",
                "type": "Microsoft.Web/sites/config",
                "location": self.location,
                "properties": json.loads(json.dumps(properties)),
            }

    def _put_site_config(self, slot: FakeSlot, body: Any, *, merge: bool) -> Response:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _arm_error(400, "BadRequest", "properties must be an object")
        problem = self._bad_rules(properties.get("experiments"))
        if problem:
            return _arm_error(400, "BadRequest", problem)
        with self.lock:
            kept = dict(slot.site_config) if merge else {}
            kept.update({k: v for k, v in properties.items() if v is not None})
            slot.site_config = kept
        return json_response(200, self._site_config_json(slot))

    def _bad_rules(self, experiments: Any) -> str | None:
        if experiments is None:
            return None
        rules = experiments.get("rampUpRules") if isinstance(experiments, dict) else None
        if not isinstance(rules, list):
            return "experiments.rampUpRules must be a list"
        with self.lock:
            hosts = {s.host for s in self.slots.values()}
        names = [r.get("name") for r in rules if isinstance(r, dict)]
        if len(names) != len(rules) or len(set(names)) != len(names) or None in names:
            return "each routing rule needs a unique name"
        for rule in rules:
            percent = rule.get("reroutePercentage")
            if not isinstance(percent, int | float) or not 0 <= percent <= 100:
                return f"rule {rule['name']}: reroutePercentage must lie in [0, 100]"
            if rule.get("actionHostName") not in hosts:
                return f"rule {rule['name']}: actionHostName is not a host of this app"
        return None

    def routing_rules(self) -> list[dict[str, Any]]:
        """The production site's routing rules (`experiments.rampUpRules`) now."""
        with self.lock:
            experiments = self.slots["production"].site_config.get("experiments") or {}
            return [dict(r) for r in experiments.get("rampUpRules") or []]

    def _routed(self, slot: FakeSlot, request: RecordedRequest) -> tuple[FakeSlot, str | None]:
        """The slot a production request is served by, and the routing cookie to set."""
        if slot.name != "production":
            return slot, None
        rules = self.routing_rules()
        if not rules:
            return slot, None
        cookie = _cookie(request.headers.get("cookie", ""), ROUTING_COOKIE)
        if cookie == "self":
            return slot, None
        chosen = next((r for r in rules if r["name"] == cookie), None)
        given = None
        if chosen is None:
            draw, given = random.random() * 100, "self"
            for rule in rules:
                draw -= float(rule["reroutePercentage"])
                if draw < 0:
                    chosen, given = rule, str(rule["name"])
                    break
        if chosen is None:
            return slot, given
        served = self._slot_by("host", str(chosen["actionHostName"]))
        return (served or slot), given

    # -- ARM: swaps ------------------------------------------------------------------------
    def _start_swap(self, source: FakeSlot, body: Any) -> Response:
        target = str((body or {}).get("targetSlot") or "").lower()
        with self.lock:
            if target not in self.slots:
                return _arm_error(400, "BadRequest", f"Target slot '{target}' does not exist.")
            if target == source.name:
                return _arm_error(400, "BadRequest", "Cannot swap a slot with itself.")
            if any(o.status == "InProgress" for o in self.operations.values()):
                return _arm_error(
                    409,
                    "Conflict",
                    f"Cannot modify this site because another operation is in progress."
                    f" Details: Operation: SwapSiteSlots, Site: {self.app}",
                )
            pending = source.target_swap_slot
            if pending is not None and pending != target:
                return _arm_error(
                    409,
                    "Conflict",
                    f"Cannot swap slot '{source.name}' with '{target}' because it has already been"
                    f" prepared for swap with slot '{pending}'.",
                )
            other = self.slots[target]
            if other.target_swap_slot not in (None, source.name):
                return _arm_error(
                    409,
                    "Conflict",
                    f"Cannot swap with slot '{target}' because it has already been prepared for"
                    f" swap with slot '{other.target_swap_slot}'.",
                )
            operation = SwapOperation(str(uuid.uuid4()), source.name, time.time())
            self.operations[operation.id] = operation
        threading.Thread(target=self._run_swap, args=(operation, target), daemon=True).start()
        return 202, {"Location": self._location(operation), "Retry-After": "1"}, b""

    def _passed(self, gate: threading.Event) -> bool:
        """Wait for a test's gate; False when the server stops first."""
        while not gate.wait(0.05):
            if self._stopping.is_set():
                return False
        return True

    def _location(self, operation: SwapOperation) -> str:
        return (
            f"{self.url}{self.slot_id(operation.source)}/operationresults/{operation.id}"
            "?api-version=2025-05-01"
        )

    def _run_swap(self, operation: SwapOperation, target_name: str) -> None:
        if self._stopping.wait(self.swap_seconds) or not self._passed(self.swap_gate):
            return
        with self.lock:
            source = self.slots[operation.source]
            target = self.slots[target_name]
            content = source.content
            path = source.settings.get("WEBSITE_SWAP_WARMUP_PING_PATH", "/")
            statuses = source.settings.get("WEBSITE_SWAP_WARMUP_PING_STATUSES", "")
            refused = source.name in self.warmup_refused
        answered = None if refused else _ping(content, path)
        allowed = {s.strip() for s in statuses.split(",") if s.strip()}
        if answered is None or (allowed and str(answered) not in allowed):
            message = (
                f"Cannot swap site slots for site '{self.app}' because the '{source.name}' slot"
                " did not respond to http ping. (CODE: 417)"
            )
            with self.lock:
                operation.status = "Failed"
                operation.error = {"code": "ExpectationFailed", "message": message}
                operation.finished = time.time()
            return
        with self.lock:
            self._exchange(source, target)
            operation.status = "Succeeded"
            operation.finished = time.time()

    def _exchange(self, source: FakeSlot, target: FakeSlot) -> None:
        """Contents and non-sticky settings change places; sticky settings stay."""
        self._restore_own_sticky(source)
        sticky = set(self.sticky)
        moving_source = {k: v for k, v in source.settings.items() if k not in sticky}
        moving_target = {k: v for k, v in target.settings.items() if k not in sticky}
        source.settings = {k: v for k, v in source.settings.items() if k in sticky} | moving_target
        target.settings = {k: v for k, v in target.settings.items() if k in sticky} | moving_source
        source.content, target.content = target.content, source.content
        source.target_swap_slot = target.target_swap_slot = None
        stamp = {
            "timestampUtc": datetime.now(UTC).isoformat(),
            "sourceSlotName": source.name,
            "destinationSlotName": target.name,
        }
        source.swap_status = target.swap_status = stamp

    def _restore_own_sticky(self, slot: FakeSlot) -> None:
        """Undo an applied preview: the slot's own sticky values (or none) come back."""
        if slot.own_sticky is None:
            return
        sticky = set(self.sticky)
        slot.settings = {k: v for k, v in slot.settings.items() if k not in sticky}
        slot.settings.update(slot.own_sticky)
        slot.own_sticky = None

    def _operation(self, operation_id: str) -> Response:
        with self.lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return _arm_error(404, "NotFound", f"operation {operation_id} not found")
            if operation.status == "InProgress":
                return 202, {"Location": self._location(operation), "Retry-After": "1"}, b""
            if operation.status == "Failed":
                assert operation.error is not None
                return json_response(417, {"error": operation.error})
            return json_response(200, self._site_json(self.slots[operation.source]))

    def _apply(self, source: FakeSlot, body: Any) -> Response:
        target = str((body or {}).get("targetSlot") or "").lower()
        with self.lock:
            if target not in self.slots:
                return _arm_error(400, "BadRequest", f"Target slot '{target}' does not exist.")
            if source.target_swap_slot is not None:
                return _arm_error(
                    409,
                    "Conflict",
                    f"Cannot apply configuration from slot '{target}' because this slot has"
                    f" already been prepared for swap with slot '{source.target_swap_slot}'.",
                )
            other = self.slots[target]
            sticky = set(self.sticky)
            source.own_sticky = {k: v for k, v in source.settings.items() if k in sticky}
            source.settings.update({k: v for k, v in other.settings.items() if k in sticky})
            source.target_swap_slot = target
            other.target_swap_slot = source.name
        return 200, {}, b""

    def _reset(self, slot: FakeSlot) -> Response:
        with self.lock:
            for each in self.slots.values():
                if each is slot or each.target_swap_slot == slot.name:
                    self._restore_own_sticky(each)
                    each.target_swap_slot = None
            slot.target_swap_slot = None
        return 200, {}, b""

    def _deployments(self) -> Response:
        rg = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        value = [
            {
                "id": f"{rg}/providers/Microsoft.Resources/deployments/{d.name}",
                "name": d.name,
                "type": "Microsoft.Resources/deployments",
                "properties": {
                    "provisioningState": d.state,
                    "timestamp": d.timestamp.isoformat().replace("+00:00", "Z"),
                    "mode": "Incremental",
                    "correlationId": str(uuid.uuid5(uuid.NAMESPACE_URL, d.name)),
                },
            }
            for d in self.resource_deployments
        ]
        return json_response(200, {"value": value})

    # -- Kudu ------------------------------------------------------------------------------
    def _slot_by(self, attribute: str, host: str) -> FakeSlot | None:
        with self.lock:
            for slot in self.slots.values():
                if getattr(slot, attribute).lower() == host:
                    return slot
        return None

    def _kudu(self, request: RecordedRequest, host: str) -> Response:
        slot = self._slot_by("scm_host", host)
        if slot is None:
            return 404, {}, b"no such site"
        principal = self._principal(request)
        if principal is None:
            return 401, {"WWW-Authenticate": "Bearer"}, b"Unauthorized"
        path = request.path.rstrip("/").lower()
        if path == "/api/publish" and request.method == "POST":
            kind = "sites" if slot.name == "production" else "sites/slots"
            denied = self._checked(
                principal, f"Microsoft.Web/{kind}/publish/action", self.slot_id(slot.name)
            )
            if denied is not None:
                return 403, {"Content-Type": "text/plain"}, b"Forbidden: no publish permission"
            return self._publish(slot, request)
        if path == "/api/deployments" and request.method == "GET":
            return json_response(200, [d.to_json(slot.scm_host) for d in slot.deployments])
        match = re.fullmatch(r"/api/deployments/([^/]+)", path)
        if match and request.method == "GET":
            with self.lock:
                if not slot.deployments:
                    return 404, {}, b"no deployment"
                found = (
                    slot.deployments[-1]
                    if match.group(1) == "latest"
                    else next((d for d in slot.deployments if d.id == match.group(1)), None)
                )
                if found is None:
                    return 404, {}, b"no deployment"
                return json_response(200, found.to_json(slot.scm_host))
        return 404, {}, b"not found"

    def _publish(self, slot: FakeSlot, request: RecordedRequest) -> Response:
        if request.query.get("type", [""])[0] != "zip":
            return 400, {}, b"type=zip expected"
        with self.lock:
            if any(not d.complete for d in slot.deployments):
                return (
                    409,
                    {"Content-Type": "text/plain"},
                    b"There is a deployment currently in progress.",
                )
            record = KuduDeploymentRecord(uuid.uuid4().hex)
            slot.deployments.append(record)
        if self.on_publish is not None:
            self.on_publish()
        asynchronous = request.query.get("async", ["false"])[0].lower() == "true"
        worker = threading.Thread(
            target=self._deploy, args=(slot, record, request.body), daemon=True
        )
        worker.start()
        if not asynchronous:
            worker.join()
            return (200, {}, b"") if record.status == 4 else (400, {}, record.status_text.encode())
        location = f"https://{slot.scm_host}/api/deployments/{record.id}"
        return 202, {"Location": location}, b""

    def _deploy(self, slot: FakeSlot, record: KuduDeploymentRecord, body: bytes) -> None:
        folder = self.workdir / slot.name / record.id
        archive = folder.with_suffix(".zip")
        folder.mkdir(parents=True)
        archive.write_bytes(body)
        with self.lock:
            record.status, record.status_text = 1, "Building"
        if self._stopping.wait(self.build_seconds) or not self._passed(self.build_gate):
            return
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(folder)
        except zipfile.BadZipFile:
            self._deployed(record, 3, "Deployment Failed. The package is not a valid zip file.")
            return
        with self.lock:
            record.status, record.status_text = 2, "Deploying"
            env = dict(slot.settings)
        content, problem = _start(folder, env, self.start_timeout)
        if content is None:
            self._deployed(record, 3, f"Site failed to start within the time limit: {problem}")
            return
        with self.lock:
            old, slot.content = slot.content, content
        if old is not None:
            _stop(old)
        self._deployed(record, 4, "Deployment successful.")

    def install(self, slot: str, package: Path, settings: dict[str, str]) -> None:
        """Put a package into a slot directly, as an earlier deployment would have (set-up)."""
        with self.lock:
            target = self.slots.setdefault(slot, self._new_slot(slot))
            target.settings.update(settings)
            record = KuduDeploymentRecord(uuid.uuid4().hex)
            target.deployments.append(record)
        self._deploy(target, record, package.read_bytes())
        if record.status != 4:
            raise RuntimeError(f"installing {package} into {slot}: {record.status_text}")

    def _deployed(self, record: KuduDeploymentRecord, status: int, text: str) -> None:
        with self.lock:
            record.status, record.status_text, record.complete = status, text, True

    # -- front door ------------------------------------------------------------------------
    def _front_door(self, request: RecordedRequest, host: str) -> Response:
        slot = self._slot_by("host", host)
        if slot is None:
            return 404, {"Content-Type": "text/html"}, b"<h1>404 Web Site not found.</h1>"
        slot, routing = self._routed(slot, request)
        with self.lock:
            content = slot.content
        started = time.monotonic()
        if content is None or content.port is None:
            status, headers, payload = (
                503,
                {"Content-Type": "text/html"},
                b"<h1>Application Error</h1>",
            )
        else:
            status, headers, payload = _forward(content.port, request)
        self._record(slot, host, request.path, status, (time.monotonic() - started) * 1000)
        if routing is not None:
            headers = {**headers, "Set-Cookie": f"{ROUTING_COOKIE}={routing}; Path=/; HttpOnly"}
        return status, headers, payload

    def _record(self, slot: FakeSlot, host: str, path: str, status: int, ms: float) -> None:
        with self.lock:
            self._sampled += 1
            if self._sampled % self.sampling:
                return
            self.records.append(
                RequestRecord(time.time(), slot.name, host, path, status, ms, self.sampling)
            )

    def record_traffic(
        self, slot: str, at: float, status: int, duration_ms: float, count: int = 1
    ) -> None:
        """Telemetry of requests served in the past (a baseline a test needs)."""
        with self.lock:
            host = self.slots[slot].host
            for _ in range(count):
                self.records.append(RequestRecord(at, slot, host, "/", status, duration_ms))

    # -- Azure Monitor metrics ---------------------------------------------------------------
    def _metrics(self, request: RecordedRequest, path: str) -> Response:
        resource = path[: path.lower().index("/providers/microsoft.insights/metrics")]
        slot = next((n for n in self.slots if self.slot_id(n).lower() == resource.lower()), None)
        if slot is None:
            return _arm_error(404, "ResourceNotFound", f"{resource} not found")
        names = request.query.get("metricnames", [""])[0].split(",")
        timespan = request.query.get("timespan", [""])[0]
        interval = request.query.get("interval", ["PT1M"])[0]
        if interval.upper() != "PT1M":
            return _arm_error(400, "BadRequest", f"interval {interval} is not supported here")
        try:
            start_text, end_text = timespan.split("/")
            start, end = _parse_time(start_text), _parse_time(end_text)
        except ValueError:
            return _arm_error(400, "BadRequest", f"timespan {timespan!r} is invalid")
        now = time.time()
        minutes = range(int(start // 60) * 60, int(end), 60)
        with self.lock:
            rows = [r for r in self.records if r.slot == slot and start <= r.at < end]
        values = []
        for name in names:
            data = []
            for minute in minutes:
                point: dict[str, Any] = {"timeStamp": _iso(minute)}
                if minute + 60 + self.metrics_delay <= now:
                    inside = [r for r in rows if minute <= r.at < minute + 60]
                    if name == "Requests":
                        point["total"] = float(len(inside))
                    elif name == "Http5xx":
                        point["total"] = float(sum(1 for r in inside if r.status >= 500))
                    elif name == "HttpResponseTime":
                        if inside:
                            point["average"] = (
                                sum(r.duration_ms for r in inside) / len(inside) / 1000
                            )
                    else:
                        return _arm_error(400, "BadRequest", f"Metric {name} is not supported")
                data.append(point)
            values.append(
                {
                    "id": f"{resource}/providers/Microsoft.Insights/metrics/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "unit": "Seconds" if name == "HttpResponseTime" else "Count",
                    "errorCode": "Success",
                    "timeseries": [{"metadatavalues": [], "data": data}],
                }
            )
        return json_response(
            200,
            {
                "cost": 0,
                "timespan": timespan,
                "interval": "PT1M",
                "namespace": "Microsoft.Web/sites",
                "resourceregion": self.location,
                "value": values,
            },
        )

    # -- Log Analytics ---------------------------------------------------------------------
    def _logs(self, request: RecordedRequest, path: str) -> Response:
        match = re.fullmatch(r"/v1/workspaces/([^/]+)/query", path, re.IGNORECASE)
        if match is None or request.method != "POST":
            return _logs_error(404, "PathNotFound", f"{path} not found")
        if match.group(1) != self.workspace_id:
            return _logs_error(
                404, "WorkspaceNotFoundError", f"workspace {match.group(1)} not found"
            )
        body = request.json() or {}
        try:
            query = AppRequestsQuery.parse(str(body.get("query", "")))
        except ValueError as exc:
            return _logs_error(
                400, "BadArgumentError", f"The request had some invalid properties: {exc}"
            )
        visible_until = time.time() - self.appinsights_delay
        with self.lock:
            rows = [r for r in self.records if r.at <= visible_until]
        return json_response(200, {"tables": [query.run(rows)]})


class AppRequestsQuery:
    """The KQL turnout sends to Log Analytics, evaluated over the recorded requests.

    Shape: `AppRequests | where TimeGenerated >= datetime(A) and TimeGenerated <
    datetime(B) | where parse_url(Url).Host =~ "HOST" | summarize requests =
    sum(ItemCount), failed = sumif(ItemCount, Success == false), server_errors =
    sumif(ItemCount, toint(ResultCode) >= 500) by bucket =
    bin(TimeGenerated, Ns), le = case(DurationMs <= X, X, ..., E)`.
    """

    def __init__(
        self, start: float, end: float, host: str, step: float, bounds: list[float], last: float
    ):
        self.start, self.end, self.host, self.step = start, end, host, step
        self.bounds, self.last = bounds, last

    @classmethod
    def parse(cls, text: str) -> AppRequestsQuery:
        """Read the query; anything outside the known shape is refused."""
        pipes = [p.strip() for p in text.split("|")]
        if not pipes or pipes[0] != "AppRequests":
            raise ValueError(
                f"'{pipes[0] if pipes else ''}': table not found (expected AppRequests)"
            )
        times = re.search(
            r"TimeGenerated >= datetime\(([^)]+)\) and TimeGenerated < datetime\(([^)]+)\)", text
        )
        host = re.search(r'parse_url\(Url\)\.Host =~ "([^"]+)"', text)
        step = re.search(r"bin\(TimeGenerated, (\d+(?:\.\d+)?)s\)", text)
        case = re.search(r"le = case\((.*)\)\s*$", text, re.DOTALL)
        if not (times and host and step and case):
            raise ValueError("query shape not supported by this server")
        if (
            "requests = sum(ItemCount)" not in text
            or "sumif(ItemCount, Success == false)" not in text
        ):
            raise ValueError("expected sum(ItemCount) and sumif(ItemCount, Success == false)")
        items = [i.strip() for i in case.group(1).split(",")]
        bounds = [float(re.sub(r"^DurationMs <= ", "", i)) for i in items[:-1:2]]
        return cls(
            _parse_time(times.group(1)),
            _parse_time(times.group(2)),
            host.group(1).lower(),
            float(step.group(1)),
            bounds,
            float(items[-1].replace("real(+inf)", "inf")),
        )

    def run(self, rows: list[RequestRecord]) -> dict[str, Any]:
        """The result table (bucket, le, requests, failed, server_errors)."""
        groups: dict[tuple[float, float], list[int]] = {}
        for r in rows:
            if not (self.start <= r.at < self.end) or r.host.lower() != self.host:
                continue
            bucket = (r.at // self.step) * self.step
            le = next((b for b in self.bounds if r.duration_ms <= b), self.last)
            counts = groups.setdefault((bucket, le), [0, 0, 0])
            counts[0] += r.item_count
            if r.status >= 400 and r.status != 401:  # what App Insights marks Success == false
                counts[1] += r.item_count
            if r.status >= 500:
                counts[2] += r.item_count
        return {
            "name": "PrimaryResult",
            "columns": [
                {"name": "bucket", "type": "datetime"},
                {"name": "le", "type": "real"},
                {"name": "requests", "type": "long"},
                {"name": "failed", "type": "long"},
                {"name": "server_errors", "type": "long"},
            ],
            "rows": [
                [_iso(b), "Infinity" if le == float("inf") else le, c[0], c[1], c[2]]
                for (b, le), c in sorted(groups.items())
            ],
        }


# -- helpers ---------------------------------------------------------------------------------
class _FrontProxy(FakeHttpServer):
    """Plain-HTTP proxy whose CONNECT tunnels to *.azurewebsites.net end in the fake."""

    def __init__(self, owner: AzureServer, contexts: _SuffixContexts) -> None:
        super().__init__()
        self.owner = owner
        self.contexts = contexts
        self.intercept = contexts

    def handle(self, request: RecordedRequest) -> Response:
        with self.lock:
            self.requests.clear()  # the front door records what matters; keep memory flat
        if not request.host:
            return 405, {}, b"only CONNECT tunnels to app host names"
        if ".scm." in request.host:
            with self.owner.lock:  # Kudu calls are few: tests read them with the ARM ones
                self.owner.requests.append(request)
        return self.owner.handle(request)


class _SuffixContexts(dict[str, ssl.SSLContext]):
    """The proxy intercepts every host under its domains, each with a wildcard certificate."""

    def __init__(self, suffix: str, context: ssl.SSLContext) -> None:
        super().__init__()
        self.suffixes: dict[str, ssl.SSLContext] = {suffix: context}

    def add(self, suffix: str, context: ssl.SSLContext) -> None:
        """Intercept `*.suffix` too."""
        self.suffixes[suffix] = context

    def get(self, key: str, default: Any = None) -> Any:
        for suffix, context in self.suffixes.items():
            if key.lower().endswith("." + suffix):
                return context
        return default


def _arm_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def _logs_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(folder: Path, settings: dict[str, str], timeout: float) -> tuple[Content | None, str]:
    """Run the package like App Service would (`python -m app`, PORT, app settings as env)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and k != "NO_PROXY"}
    env.update(settings)
    env["PORT"] = str(port)
    log = (folder.parent / f"{folder.name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (folder.parent / f"{folder.name}.log").read_text(errors="replace")[-300:]
            return None, f"the app exited with code {process.returncode}: {tail.strip()}"
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return Content(folder, process, port), ""
        time.sleep(0.05)
    process.kill()
    process.wait()
    return None, f"the app did not listen within {timeout:.0f} s"


def _stop(content: Content) -> None:
    if content.process is not None and content.process.poll() is None:
        content.process.terminate()
        try:
            content.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            content.process.kill()
            content.process.wait()
    shutil.rmtree(content.folder, ignore_errors=True)


def _ping(content: Content | None, path: str) -> int | None:
    """The platform's warm-up request (plain HTTP to the instance); its status or None."""
    if content is None or content.port is None:
        return None
    try:
        conn = http.client.HTTPConnection("127.0.0.1", content.port, timeout=10)
        conn.request("GET", path, headers={"User-Agent": "SiteWarmup"})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def _forward(port: int, request: RecordedRequest) -> Response:
    query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
    target = request.path + (f"?{query}" if query else "")
    headers = {
        k: v
        for k, v in request.headers.items()
        if k
        not in {"host", "connection", "content-length", "transfer-encoding", "proxy-connection"}
    }
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(request.method, target, body=request.body or None, headers=headers)
        answer = conn.getresponse()
        payload = answer.read()
        kept = {
            k: v
            for k, v in answer.getheaders()
            if k.lower() not in {"content-length", "transfer-encoding", "connection"}
        }
        conn.close()
        return answer.status, kept, payload
    except OSError as exc:
        return 502, {"Content-Type": "text/plain"}, f"Bad Gateway: {exc}".encode()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def query_of(url: str) -> dict[str, list[str]]:
    """A URL's query (helper for tests reading Location headers)."""
    return parse_qs(urlsplit(url).query)
