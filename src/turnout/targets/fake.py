"""The fake target: slot exchange semantics with no processes, shipped for tests.

Its slot table lives in memory, or in a JSON file (`state_file`) written
atomically so that separate turnout processes (a deploy that is killed and the
resume that follows) see the same slots. Slot URLs are answered in-process by
an httpx MockTransport: `/health` says healthy for any deployed version unless
the version is listed in the slot table's `unhealthy` set.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import NotSupported, StepError
from turnout.model import Release
from turnout.targets.protocol import PRODUCTION, SlotState

# httpx is imported by the slot URLs' transport: reading the slot table (`status`) does not
# pay for its import.
if TYPE_CHECKING:
    import httpx

    from turnout.config import EnvironmentConfig, LoadedConfig

FAKE_DOMAIN = "fake.invalid"


class FakeTarget:
    """An in-memory (optionally file-backed) target with App Service slot semantics."""

    def __init__(
        self,
        name: str = "fake",
        *,
        state_file: Path | None = None,
        staging_slot: str = "blue",
    ) -> None:
        self.name = name
        self.staging_slot = staging_slot
        self._state_file = state_file
        self._lock = threading.Lock()
        self._memory: dict[str, Any] = {"slots": {PRODUCTION: None}, "unhealthy": [], "swaps": 0}

    # -- persistence ------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if self._state_file is None or not self._state_file.exists():
            return self._memory if self._state_file is None else _empty()
        data: dict[str, Any] = json.loads(self._state_file.read_text(encoding="utf-8"))
        return data

    def _save(self, data: dict[str, Any]) -> None:
        if self._state_file is None:
            self._memory = data
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._state_file.parent, prefix=".fake-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(self._state_file)

    # -- protocol ---------------------------------------------------------------------
    def slots(self) -> dict[str, SlotState]:
        with self._lock:
            data = self._load()
        return {name: self._state(name, version) for name, version in data["slots"].items()}

    def production_url(self) -> str:
        return f"http://{self.name}.{FAKE_DOMAIN}"

    def slot_url(self, slot: str) -> str:
        """The slot's own URL."""
        if slot == PRODUCTION:
            return self.production_url()
        return f"http://{self.name}-{slot}.{FAKE_DOMAIN}"

    def check_package(self, package: Path) -> None:
        """Safe to unpack (the default limits): the fake deploys nothing but the version."""
        from turnout.targets.local.packages import check_package

        check_package(package)

    def ensure_slot(self, slot: str) -> SlotState:
        with self._lock:
            data = self._load()
            data["slots"].setdefault(slot, None)
            self._save(data)
            return self._state(slot, data["slots"][slot])

    def deploy(self, slot: str, release: Release) -> SlotState:
        with self._lock:
            data = self._load()
            if slot not in data["slots"]:
                raise StepError(f"fake target {self.name}: slot {slot!r} does not exist")
            data["slots"][slot] = release.version
            self._save(data)
            return self._state(slot, release.version)

    def swap(self, slot: str, target_slot: str = PRODUCTION) -> None:
        with self._lock:
            data = self._load()
            slots = data["slots"]
            if slot not in slots or target_slot not in slots:
                raise StepError(f"fake target {self.name}: cannot swap {slot} with {target_slot}")
            if target_slot == PRODUCTION and slots[slot] is None:
                # Like the local target: never put an empty slot in front of traffic.
                raise StepError(
                    f"fake target {self.name}: slot {slot} is empty; not swapping it"
                    " into production"
                )
            slots[slot], slots[target_slot] = slots[target_slot], slots[slot]
            data["swaps"] = int(data.get("swaps", 0)) + 1
            self._save(data)

    def transport(self) -> httpx.BaseTransport:
        import httpx

        return httpx.MockTransport(self._answer)

    def close(self) -> None:
        return None

    # -- test controls ----------------------------------------------------------------
    def set_unhealthy(self, version: str, unhealthy: bool = True) -> None:
        """Make every slot running this version answer 503 on /health."""
        with self._lock:
            data = self._load()
            marked = set(data.get("unhealthy", []))
            (marked.add if unhealthy else marked.discard)(version)
            data["unhealthy"] = sorted(marked)
            self._save(data)

    def swap_count(self) -> int:
        """How many swaps have happened (observability for tests)."""
        with self._lock:
            return int(self._load().get("swaps", 0))

    def infra(self) -> None:
        """The fake target has no infrastructure to deploy."""
        raise NotSupported(f"fake target {self.name}: no infrastructure deployment")

    # -- internals --------------------------------------------------------------------
    def _state(self, slot: str, version: str | None) -> SlotState:
        return SlotState(
            name=slot,
            version=version,
            url=self.slot_url(slot) if version else None,
            state="running" if version else "empty",
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        import httpx

        host = request.url.host
        with self._lock:
            data = self._load()
        slot = None
        for name in data["slots"]:
            if host == httpx.URL(self.slot_url(name)).host:
                slot = name
        if slot is None:
            return httpx.Response(404, json={"error": f"unknown host {host}"})
        version = data["slots"][slot]
        if version is None:
            return httpx.Response(503, json={"status": "empty"})
        if version in data.get("unhealthy", []):
            return httpx.Response(503, json={"status": "unhealthy", "version": version})
        return httpx.Response(200, json={"status": "healthy", "version": version})


def _empty() -> dict[str, Any]:
    return {"slots": {PRODUCTION: None}, "unhealthy": [], "swaps": 0}


def create(config: LoadedConfig, env: EnvironmentConfig) -> FakeTarget:
    """Entry point for `kind = "fake"`."""
    from turnout.config.targets import FakeTargetConfig

    settings = env.target
    assert isinstance(settings, FakeTargetConfig)
    state_file = config.resolve_path(settings.state_file) if settings.state_file else None
    return FakeTarget(env.name, state_file=state_file, staging_slot=settings.staging_slot)
