"""AzureTarget: the Target protocol over App Service deployment slots (azure-mgmt-web).

- Slots are the site (production) and its `slots/{name}`; host names are read from
  the service (`default_host_name`, the Repository entry of `host_name_ssl_states`
  for the SCM host), never built from the app's name.
- The deployed version is the app setting `version_setting` (TURNOUT_VERSION). It is
  not a slot setting, so it travels with the content on every swap, like the package.
- A swap is `begin_swap_slot(staging, target_slot=production)`, whichever side the
  caller names first: Azure warms the *source* slot, so production is always the
  target, and swapping back is the same swap again.
- Deploys and swaps return their handle (Kudu's deployment status URL; the swap
  poller's continuation token) as soon as Azure accepted them; the engine journals it
  before `follow` waits, so a later process follows the same operation instead of
  starting a second one. The swap's poller does not poll until `follow` is called.
- A traffic share (the canary phase) is an App Service routing rule on the production
  site's configuration (`siteConfig.experiments.rampUpRules`): named after the slot, to the
  slot's host name, with the share as its reroute percentage. App Service pins each client
  to the slot it was given with its own `x-ms-routing-name` cookie. Rules others set (with
  other names) are kept as they are.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from turnout.errors import IntegrationError, StepError
from turnout.model import Release
from turnout.targets.azure.failures import integration_error, step_error
from turnout.targets.azure.kudu import DeployStillRunning, KuduClient
from turnout.targets.protocol import (
    PRODUCTION,
    BlockingCalls,
    Deadline,
    Operation,
    OperationKind,
    OperationResult,
    OperationStatus,
    SlotState,
    SlotStatus,
    Stickiness,
    TrafficShare,
)

if TYPE_CHECKING:
    from azure.mgmt.web.models import CsmSlotEntity, Site

    from turnout.config.azure import AzureTargetConfig
    from turnout.targets.azure.sdk import AzureSession

WARMUP_PATH = "WEBSITE_SWAP_WARMUP_PING_PATH"
ROUTING_COOKIE = "x-ms-routing-name"
"""The cookie App Service pins a client to the slot a routing rule gave it with."""
WARMUP_STATUSES = "WEBSITE_SWAP_WARMUP_PING_STATUSES"


class AzureTarget(BlockingCalls):
    """One App Service app and its slots."""

    def __init__(
        self,
        name: str,
        session: AzureSession,
        *,
        health_path: str = "/health",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.session = session
        self.settings: AzureTargetConfig = session.settings
        self.staging_slot = self.settings.staging_slot
        self.health_path = self.settings.health_path or health_path
        self._sleep = sleep
        self._swaps: dict[str, tuple[Any, threading.Event]] = {}
        """Swaps this client began, by token: the poller, and the gate its polling waits on."""
        self.staging_app: tuple[str, str] | None = None
        """(resource group, app) of the staging environment's app, when it is on Azure."""

    # -- observing ---------------------------------------------------------------------
    def _site(self, slot: str) -> Site | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        s = self.settings
        try:
            if slot == PRODUCTION:
                return self.session.web.web_apps.get(s.resource_group, s.app)
            return self.session.web.web_apps.get_slot(s.resource_group, s.app, slot)
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            raise integration_error(f"reading {self.session.slot_id(slot)}", exc) from exc

    def _settings_of(self, slot: str) -> dict[str, str]:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        apps = self.session.web.web_apps
        try:
            found = (
                apps.list_application_settings(s.resource_group, s.app)
                if slot == PRODUCTION
                else apps.list_application_settings_slot(s.resource_group, s.app, slot)
            )
        except HttpResponseError as exc:
            raise integration_error(f"reading app settings of {slot}", exc) from exc
        return dict(found.properties or {})

    def _state(self, slot: str, site: Site) -> SlotState:
        version = self._settings_of(slot).get(self.settings.version_setting) or None
        azure_state = str(site.state or "Unknown")
        detail = [f"Azure state {azure_state}", f"host {site.default_host_name}"]
        pending = getattr(site, "target_swap_slot", None)
        if pending:
            detail.append(f"prepared for swap with {pending} (swap with preview pending)")
        if version is None:
            state = SlotStatus.EMPTY
        elif azure_state.lower() == "running":
            state = SlotStatus.RUNNING
        else:
            state = SlotStatus.STOPPED
        url = f"https://{site.default_host_name}" if state is SlotStatus.RUNNING else None
        return SlotState(slot, version, url, state, ", ".join(detail))

    def slots(self) -> dict[str, SlotState]:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        site = self._site(PRODUCTION)
        if site is None:
            raise StepError(
                f"App Service app {s.app} not found in resource group {s.resource_group}"
            )
        found = {PRODUCTION: self._state(PRODUCTION, site)}
        try:
            others = list(self.session.web.web_apps.list_slots(s.resource_group, s.app))
        except HttpResponseError as exc:
            raise integration_error(f"listing the slots of {s.app}", exc) from exc
        for other in others:
            slot = str(other.name).rsplit("/", 1)[-1]  # ARM names slots "app/slot"
            found[slot] = self._state(slot, other)
        return found

    def production_url(self) -> str:
        site = self._site(PRODUCTION)
        if site is None:
            raise StepError(f"App Service app {self.settings.app} not found")
        return f"https://{site.default_host_name}"

    def slot_url(self, slot: str) -> str | None:
        site = self._site(slot)
        if site is None:
            return None
        state = self._state(slot, site)
        return state.url

    def host_of(self, slot: str) -> str:
        """The slot's default host name, as the service reports it."""
        site = self._site(slot)
        if site is None or not site.default_host_name:
            raise IntegrationError(f"slot {slot} of {self.settings.app} has no host name")
        return str(site.default_host_name)

    def scm_host(self, slot: str) -> str:
        """The slot's SCM (Kudu) host name, as the service reports it."""
        site = self._site(slot)
        if site is None:
            raise StepError(f"slot {slot} of {self.settings.app} does not exist")
        for entry in site.host_name_ssl_states or []:
            if str(entry.host_type).lower().endswith("repository") and entry.name:
                return str(entry.name)
        raise StepError(f"slot {slot} of {self.settings.app} reports no SCM host")

    def check_package(self, package: Path) -> None:
        """A zip or a directory safe to unpack (what OneDeploy receives), default limits."""
        from turnout.targets.packages import check_package

        check_package(package)

    # -- changing ----------------------------------------------------------------------
    def ensure_slot(self, slot: str) -> SlotState:
        from azure.core.exceptions import HttpResponseError

        if slot == PRODUCTION:
            return self.slots()[PRODUCTION]
        site = self._site(slot)
        if site is None:
            s = self.settings
            production = self._site(PRODUCTION)
            location = production.location if production is not None else s.location
            try:
                from azure.mgmt.web.models import Site as SiteModel

                poller = self.session.web.web_apps.begin_create_or_update_slot(
                    s.resource_group, s.app, slot, SiteModel(location=location or s.location)
                )
                site = poller.result(timeout=s.deploy_timeout)
            except HttpResponseError as exc:
                raise step_error(f"creating slot {slot} of {s.app}", exc) from exc
        return self._state(slot, site)

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        """Upload the package with OneDeploy; the handle is Kudu's deployment status URL."""
        s = self.settings
        site = self._site(slot)
        if site is None:
            raise StepError(f"slot {slot} of {s.app} does not exist (create it first)")
        current = self._state(slot, site)
        detail: dict[str, Any] = {"version": release.version}
        if current.version == release.version and current.state is SlotStatus.RUNNING:
            return Operation(OperationKind.DEPLOY, self.name, slot, time.time(), "", detail=detail)
        if release.package is None or not release.package.exists():
            raise StepError(f"release {release.version}: no package to deploy")
        kudu = KuduClient(self.scm_host(slot), self.session.token)
        try:
            with zipped(release.package) as archive:
                status_url = kudu.publish(archive)
        finally:
            kudu.close()
        return Operation(
            OperationKind.DEPLOY,
            self.name,
            slot,
            time.time(),
            status_url,
            polling_url=status_url,
            detail=detail,
        )

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        if operation.kind is OperationKind.SWAP:
            return self._follow_swap(operation, deadline)
        return self._follow_deploy(operation, deadline)

    def _follow_deploy(self, operation: Operation, deadline: Deadline) -> OperationResult:
        s = self.settings
        version = str(operation.detail.get("version"))
        if operation.token:
            kudu = KuduClient(httpx.URL(operation.token).host, self.session.token)
            try:
                kudu.follow(
                    operation.token,
                    interval=s.poll_interval,
                    timeout=deadline.within(s.deploy_timeout),
                    sleep=self._sleep,
                )
            except DeployStillRunning as exc:
                return OperationResult(operation, OperationStatus.RUNNING, exc.message)
            except StepError as exc:
                return OperationResult(operation, OperationStatus.FAILED, exc.message)
            finally:
                kudu.close()
            self._record_version(operation.slot, version)
        state = self.ensure_slot(operation.slot)
        return OperationResult(
            operation, OperationStatus.SUCCEEDED, finished_at=time.time(), state=state
        )

    def _record_version(self, slot: str, version: str) -> None:
        """Write the version (and the swap warm-up settings) into the slot's app settings."""
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        apps = self.session.web.web_apps
        values = self._settings_of(slot)
        values[s.version_setting] = version
        # The platform pings this path on every instance of the source slot before it
        # moves traffic, and stops the swap on a status not in the list.
        values[WARMUP_PATH] = self.health_path
        values[WARMUP_STATUSES] = s.warmup_statuses
        try:
            names = apps.list_slot_configuration_names(s.resource_group, s.app)
            sticky = list(names.app_setting_names or [])
            if s.version_setting in sticky:
                raise StepError(
                    f"{s.version_setting} is a slot setting of {s.app}: the version would not"
                    " travel with the swap; remove it from the slot settings"
                )
            wanted = sorted(set(sticky) | {WARMUP_PATH, WARMUP_STATUSES})
            if wanted != sorted(sticky):
                names.app_setting_names = wanted
                apps.update_slot_configuration_names(s.resource_group, s.app, names)
            from azure.mgmt.web.models import StringDictionary

            body = StringDictionary(properties=values)
            if slot == PRODUCTION:
                apps.update_application_settings(s.resource_group, s.app, body)
            else:
                apps.update_application_settings_slot(s.resource_group, s.app, slot, body)
        except HttpResponseError as exc:
            raise step_error(f"recording version {version} in slot {slot}", exc) from exc

    def begin_swap(
        self, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline
    ) -> Operation:
        """Azure's swap of the staging slot into production, accepted; its poller waits
        for `follow` before it polls."""
        s = self.settings
        # Production is always the target: Azure warms the source; swap back = same swap.
        source = target_slot if slot == PRODUCTION else slot
        other = slot if slot == PRODUCTION else target_slot
        if other != PRODUCTION or source == PRODUCTION:
            raise StepError(
                f"the azure target swaps a slot with production, not {slot}/{target_slot}"
            )
        slots = self.slots()
        if source not in slots:
            raise StepError(f"cannot swap {source} with production: slot {source} does not exist")
        before = {name: slots[name].version for name in (source, PRODUCTION)}
        if before[source] is None:
            raise StepError(f"slot {source} is empty; not swapping it into production")
        if s.swap == "preview":
            self._apply_preview(source, deadline)
        return self._begin_swap(source, before)

    def _entity(self) -> CsmSlotEntity:
        from azure.mgmt.web.models import CsmSlotEntity

        # What az webapp deployment slot swap sends: keep the VNet integration in place.
        return CsmSlotEntity(target_slot=PRODUCTION, preserve_vnet=True)

    def _apply_preview(self, source: str, deadline: Deadline) -> None:
        """Phase 1 of swap with preview: production's slot settings on the source's workers,
        then wait until the source answers its health path again."""
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        site = self._site(source)
        if site is not None and getattr(site, "target_swap_slot", None):
            return  # already prepared (this deployment, before a crash): complete it
        try:
            self.session.web.web_apps.apply_slot_configuration_slot(
                s.resource_group, s.app, source, self._entity()
            )
        except HttpResponseError as exc:
            raise step_error(
                f"swap with preview of {source}: applying production's settings", exc
            ) from exc
        self._wait_healthy(source, deadline)

    def cancel_preview(self, source: str | None = None) -> None:
        """Cancel a pending swap with preview (the source gets its own settings back)."""
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        try:
            self.session.web.web_apps.reset_slot_configuration_slot(
                s.resource_group, s.app, source or self.staging_slot
            )
        except HttpResponseError as exc:
            raise step_error("cancelling the swap with preview", exc) from exc

    def _wait_healthy(self, slot: str, deadline: Deadline) -> None:
        site = self._site(slot)
        if site is None:
            raise StepError(f"slot {slot} disappeared")
        url = f"https://{site.default_host_name}{self.health_path}"
        until = time.monotonic() + deadline.within(self.settings.deploy_timeout)
        last = "no answer"
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < until:
                try:
                    answer = client.get(url)
                    if str(answer.status_code) in self.settings.warmup_statuses.split(","):
                        return
                    last = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                self._sleep(self.settings.poll_interval)
        raise StepError(f"slot {slot} did not become healthy with production's settings: {last}")

    def _begin_swap(self, source: str, before: dict[str, str | None]) -> Operation:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        # The SDK's poller starts polling in a thread of its own as soon as Azure accepted
        # the swap; held until `follow`, which the engine calls once the handle is
        # journaled, so a process killed meanwhile never leaves a swap running that no
        # journal knows of (`resume` would start a second swap and read Azure's 409 as
        # "nothing moved").
        journaled = threading.Event()
        try:
            poller = self.session.web.web_apps.begin_swap_slot(
                s.resource_group,
                s.app,
                source,
                self._entity(),
                polling=_polling_after(journaled, s.poll_interval, s.management_endpoint),
            )
        except HttpResponseError as exc:
            raise self._refused(source, exc) from exc
        token = str(poller.continuation_token())
        self._swaps[token] = (poller, journaled)
        return Operation(
            OperationKind.SWAP,
            self.name,
            source,
            time.time(),
            token,
            target_slot=PRODUCTION,
            polling_url=_polling_url(poller),
            detail={"before": before},
        )

    def _follow_swap(self, operation: Operation, deadline: Deadline) -> OperationResult:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        found = self._swaps.pop(operation.token, None)
        if found is None:
            # Begun by another process: the continuation token holds the polling URL.
            poller = self.session.web.web_apps.begin_swap_slot(
                s.resource_group,
                s.app,
                operation.slot,
                self._entity(),
                continuation_token=operation.token,
                polling_interval=s.poll_interval,
            )
            gate = threading.Event()
        else:
            poller, gate = found
        gate.set()  # the handle is journaled: polling may start
        try:
            poller.result(timeout=deadline.within(s.swap_timeout))
        except HttpResponseError as exc:
            message = self._refused(operation.slot, exc).message
            return OperationResult(operation, OperationStatus.FAILED, message, time.time())
        if not poller.done():
            self._swaps[operation.token] = (poller, gate)
            return OperationResult(
                operation,
                OperationStatus.RUNNING,
                f"swap of {operation.slot} into production still running"
                f" (polling {operation.polling_url}); `turnout resume` follows it",
            )
        moved = self._swapped_at() or time.time()
        return OperationResult(
            operation, OperationStatus.SUCCEEDED, finished_at=time.time(), traffic_moved_at=moved
        )

    def _swapped_at(self) -> float | None:
        """When Azure says production's last swap happened (its slotSwapStatus)."""
        site = self._site(PRODUCTION)
        status = getattr(site, "slot_swap_status", None) if site is not None else None
        stamp = getattr(status, "timestamp_utc", None) if status is not None else None
        if stamp is None:
            return None
        if isinstance(stamp, str):
            from datetime import datetime

            stamp = datetime.fromisoformat(stamp)
        return float(stamp.timestamp())

    def _refused(self, source: str, exc: BaseException) -> StepError:
        live = self._live_version()
        error = step_error(f"Azure did not swap {source} into production", exc)
        return StepError(
            f"{error.message}; nothing moved: production runs {live or 'nothing'}",
            details=error.details,
        )

    def _live_version(self) -> str | None:
        try:
            return self._settings_of(PRODUCTION).get(self.settings.version_setting) or None
        except IntegrationError:
            return None

    # -- platform checks (see protocol.PlatformChecks) ---------------------------------
    def platform_preconditions(self, *, metrics: bool = False) -> dict[str, Any]:
        """App running, no foreign pending swap, every needed permission (GateFailed if not)."""
        from turnout.targets.azure.platform import check_preconditions

        return check_preconditions(self.session, metrics=metrics, staging_app=self.staging_app)

    def platform_snapshot(self) -> dict[str, Any]:
        """App state, last swap and the latest resource-group deployment."""
        from turnout.targets.azure.platform import snapshot

        return snapshot(self.session)

    # -- SharesTraffic (routing rules) -----------------------------------------------------
    shares_traffic = True
    """Routing rules send a share of production's clients to a slot, pinned by cookie."""

    def _rules(self) -> list[Any]:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        try:
            config = self.session.web.web_apps.get_configuration(s.resource_group, s.app)
        except HttpResponseError as exc:
            raise integration_error(f"reading the site configuration of {s.app}", exc) from exc
        properties = config.properties
        experiments = properties.experiments if properties is not None else None
        return list(experiments.ramp_up_rules or []) if experiments is not None else []

    def route_share(self, share: TrafficShare) -> TrafficShare:
        """Set (or, at 0 %, remove) the routing rule of `share.slot` on production; rules
        of other names are kept. Takes effect for clients without a routing cookie."""
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.web.models import Experiments, RampUpRule, SiteConfig, SiteConfigResource

        s = self.settings
        staging = {share.slot, self.staging_slot} - {None, PRODUCTION}
        rules = [r for r in self._rules() if r.name not in staging]
        if share.active:
            assert share.slot is not None
            if share.slot == PRODUCTION:
                raise StepError("production cannot take a share of its own traffic")
            rules.append(
                RampUpRule(
                    name=share.slot,
                    action_host_name=self.host_of(share.slot),
                    reroute_percentage=share.percent,
                )
            )
        try:
            self.session.web.web_apps.update_configuration(
                s.resource_group,
                s.app,
                SiteConfigResource(
                    properties=SiteConfig(experiments=Experiments(ramp_up_rules=rules))
                ),
            )
        except HttpResponseError as exc:
            raise step_error(f"setting the routing rules of {s.app}", exc) from exc
        return self.current_share()

    def current_share(self) -> TrafficShare:
        """The share the routing rule of the staging slot (or another slot) routes now."""
        hosts = {str(self.host_of(name)): name for name in self.slots() if name != PRODUCTION}
        for rule in self._rules():
            slot = hosts.get(str(rule.action_host_name))
            percent = float(rule.reroute_percentage or 0.0)
            if slot is not None and percent > 0:
                return TrafficShare(slot, percent, Stickiness.COOKIE, ROUTING_COOKIE)
        return TrafficShare(None, 0.0, Stickiness.COOKIE, ROUTING_COOKIE)

    # -- the rest of the protocol ------------------------------------------------------
    def transport(self) -> httpx.BaseTransport | None:
        return None

    def close(self) -> None:
        self.session.close()


@contextlib.contextmanager
def zipped(package: Path) -> Iterator[Path]:
    """The package as a zip file: a zip as it is, a directory zipped into a temporary file."""
    if package.is_file():
        yield package
        return
    with tempfile.TemporaryDirectory(prefix="turnout-onedeploy-") as scratch:
        archive = Path(scratch) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(package.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(package).as_posix())
        yield archive


def _polling_after(gate: threading.Event, interval: float, endpoint: str) -> Any:
    """azure-mgmt-web's own ARM polling (as `polling=True` builds it) that starts only once
    `gate` is set."""
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class GatedPolling(ARMPolling):
        def run(self) -> None:
            gate.wait()
            super().run()

    return GatedPolling(interval, path_format_arguments={"endpoint": endpoint})


def _polling_url(poller: Any) -> str:
    method = poller.polling_method()
    try:
        return str(method._operation.get_polling_url())
    except (AttributeError, TypeError):
        return ""
