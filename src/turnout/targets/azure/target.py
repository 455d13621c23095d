"""AzureTarget: the Target protocol over App Service deployment slots (azure-mgmt-web).

- Slots are the site (production) and its `slots/{name}`; host names are read from
  the service (`default_host_name`, the Repository entry of `host_name_ssl_states`
  for the SCM host), never built from the app's name.
- The deployed version is the app setting `version_setting` (TURNOUT_VERSION). It is
  not a slot setting, so it travels with the content on every swap, like the package.
- A swap is `begin_swap_slot(staging, target_slot=production)`, whichever side the
  caller names first: Azure warms the *source* slot, so production is always the
  target, and swapping back is the same swap again.
- Deploys and swaps are journaled with their handle before turnout waits on them
  (see journal.py); a later process settles them before it observes or acts.
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
from turnout.targets.azure.failures import azure_reason, integration_error, step_error
from turnout.targets.azure.journal import OperationHandle, OperationJournal
from turnout.targets.azure.kudu import KuduClient
from turnout.targets.protocol import PRODUCTION, SlotState

if TYPE_CHECKING:
    from azure.mgmt.web.models import CsmSlotEntity, Site

    from turnout.config.azure import AzureTargetConfig
    from turnout.targets.azure.sdk import AzureSession

WARMUP_PATH = "WEBSITE_SWAP_WARMUP_PING_PATH"
WARMUP_STATUSES = "WEBSITE_SWAP_WARMUP_PING_STATUSES"


class AzureTarget:
    """One App Service app and its slots."""

    def __init__(
        self,
        name: str,
        session: AzureSession,
        journal: OperationJournal,
        *,
        health_path: str = "/health",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.session = session
        self.settings: AzureTargetConfig = session.settings
        self.staging_slot = self.settings.staging_slot
        self.journal = journal
        self.health_path = self.settings.health_path or health_path
        self._sleep = sleep
        self._settled = False
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
            state = "empty"
        elif azure_state.lower() == "running":
            state = "running"
        else:
            state = "stopped"
        url = f"https://{site.default_host_name}" if state == "running" else None
        return SlotState(slot, version, url, state, ", ".join(detail))

    def slots(self) -> dict[str, SlotState]:
        self._settle()
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
        from turnout.targets.local.packages import check_package

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

    def deploy(self, slot: str, release: Release) -> SlotState:
        self._settle()
        s = self.settings
        site = self._site(slot)
        if site is None:
            raise StepError(f"slot {slot} of {s.app} does not exist (create it first)")
        current = self._state(slot, site)
        if current.version == release.version and current.state == "running":
            return current
        if release.package is None or not release.package.exists():
            raise StepError(f"release {release.version}: no package to deploy")
        kudu = KuduClient(self.scm_host(slot), self.session.token)
        try:
            with zipped(release.package) as archive:
                status_url = kudu.publish(archive)
            operation = OperationHandle(
                "deploy", slot, time.time(), status_url, status_url, {"version": release.version}
            )
            self.journal.record(operation)
            self._follow_deploy(kudu, operation)
        finally:
            kudu.close()
        self._record_version(slot, release.version)
        state = self.ensure_slot(slot)
        return state

    def _follow_deploy(self, kudu: KuduClient, operation: OperationHandle) -> None:
        s = self.settings
        try:
            kudu.follow(
                operation.handle,
                interval=s.poll_interval,
                timeout=s.deploy_timeout,
                sleep=self._sleep,
            )
        except StepError as exc:
            self.journal.finish(operation, f"failed: {exc.message}")
            raise
        self.journal.finish(operation, "succeeded")

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

    def swap(self, slot: str, target_slot: str = PRODUCTION) -> None:
        self._settle()
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
            self._apply_preview(source)
        self._swap(source, before)

    def _entity(self) -> CsmSlotEntity:
        from azure.mgmt.web.models import CsmSlotEntity

        # What az webapp deployment slot swap sends: keep the VNet integration in place.
        return CsmSlotEntity(target_slot=PRODUCTION, preserve_vnet=True)

    def _apply_preview(self, source: str) -> None:
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
        self._wait_healthy(source)

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

    def _wait_healthy(self, slot: str) -> None:
        site = self._site(slot)
        if site is None:
            raise StepError(f"slot {slot} disappeared")
        url = f"https://{site.default_host_name}{self.health_path}"
        deadline = time.monotonic() + self.settings.deploy_timeout
        last = "no answer"
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    answer = client.get(url)
                    if str(answer.status_code) in self.settings.warmup_statuses.split(","):
                        return
                    last = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                self._sleep(self.settings.poll_interval)
        raise StepError(f"slot {slot} did not become healthy with production's settings: {last}")

    def _swap(self, source: str, before: dict[str, str | None]) -> None:
        from azure.core.exceptions import HttpResponseError

        s = self.settings
        # The SDK's poller starts polling in a thread of its own as soon as Azure accepted
        # the swap; held until the handle is journaled, so a process killed meanwhile never
        # leaves a swap running that no journal knows of (`resume` would start a second
        # swap and read Azure's 409 as "nothing moved").
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
        operation = OperationHandle(
            "swap",
            source,
            time.time(),
            poller.continuation_token(),
            _polling_url(poller),
            {"before": before},
        )
        try:
            self.journal.record(operation)
        finally:
            journaled.set()
        self._finish_swap(poller, operation)

    def _finish_swap(self, poller: Any, operation: OperationHandle) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            poller.result(timeout=self.settings.swap_timeout)
        except HttpResponseError as exc:
            self.journal.finish(operation, f"failed: {azure_reason(exc)}")
            raise self._refused(operation.slot, exc) from exc
        if not poller.done():
            raise StepError(
                f"swap of {operation.slot} into production still running after"
                f" {self.settings.swap_timeout:.0f} s (polling {operation.polling_url});"
                " `turnout resume` follows it"
            )
        self.journal.finish(operation, "succeeded")

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

    def _settle(self) -> None:
        """Follow operations an earlier process started and never saw end."""
        if self._settled:
            return
        self._settled = True
        deploy = self.journal.pending("deploy")
        if deploy is not None:
            kudu = KuduClient(httpx.URL(deploy.handle).host, self.session.token)
            try:
                self._follow_deploy(kudu, deploy)
                self._record_version(deploy.slot, str(deploy.detail.get("version")))
            except StepError:
                pass  # the failed deploy is recorded; the stage step deploys again
            finally:
                kudu.close()
        swap = self.journal.pending("swap")
        if swap is not None:
            s = self.settings
            poller = self.session.web.web_apps.begin_swap_slot(
                s.resource_group, s.app, swap.slot, self._entity(), continuation_token=swap.handle
            )
            # A failed swap moved nothing; observing the slots says so, and the step decides.
            with contextlib.suppress(StepError):
                self._finish_swap(poller, swap)

    # -- platform checks (see protocol.PlatformChecks) ---------------------------------
    def platform_preconditions(self, *, metrics: bool = False) -> dict[str, Any]:
        """App running, no foreign pending swap, every needed permission (GateFailed if not)."""
        from turnout.targets.azure.platform import check_preconditions

        return check_preconditions(self.session, metrics=metrics, staging_app=self.staging_app)

    def platform_snapshot(self) -> dict[str, Any]:
        """App state, last swap and the latest resource-group deployment."""
        from turnout.targets.azure.platform import snapshot

        return snapshot(self.session)

    # -- the rest of the protocol ------------------------------------------------------
    def transport(self) -> httpx.BaseTransport | None:
        return None

    def close(self) -> None:
        self.session.close()
        self.journal.close()


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
