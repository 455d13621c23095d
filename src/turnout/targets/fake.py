"""The fake target: slot exchange semantics with no processes, shipped for tests.

Its slot table lives in memory, or in a JSON file (`state_file`) written
atomically so that separate turnout processes (a deploy that is killed and the
resume that follows) see the same slots. Slot URLs are answered in-process by
an httpx MockTransport: `/health` says healthy for any deployed version unless
the version is listed in the slot table's `unhealthy` set.

A swap can be made slow (`swap_seconds`: it runs that long before traffic moves, like an
App Service swap, and another process can follow it by its handle) and can fail after
it started (`swap_fails`: nothing moves, as when Azure reverts a swap whose warm-up
failed). A deploy ends at once.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import NotSupported, StepError
from turnout.model import Release
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
)

# httpx is imported by the slot URLs' transport: reading the slot table (`status`) does not
# pay for its import.
if TYPE_CHECKING:
    import httpx

    from turnout.config import EnvironmentConfig, LoadedConfig

FAKE_DOMAIN = "fake.invalid"


SWAP_FAILED = "the swap failed after it started (the fake target's swap_fails); nothing moved"


class FakeTarget(BlockingCalls):
    """An in-memory (optionally file-backed) target with App Service slot semantics."""

    def __init__(
        self,
        name: str = "fake",
        *,
        state_file: Path | None = None,
        staging_slot: str = "blue",
        swap_seconds: float = 0.0,
        swap_fails: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._now = now
        """The clock of the stamps (when a swap started and when traffic moved)."""
        self.staging_slot = staging_slot
        self.swap_seconds = swap_seconds
        self.swap_fails = swap_fails
        self._state_file = state_file
        self._lock = threading.Lock()
        self._memory: dict[str, Any] = _empty()

    # -- persistence ------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        """The slot table, with every swap whose time has come ended (saved if so)."""
        if self._state_file is None or not self._state_file.exists():
            data = self._memory if self._state_file is None else _empty()
        else:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
        if _end_due_swaps(data, self._now()):
            self._save(data)
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

    def slot_url(self, slot: str) -> str | None:
        state = self.slots().get(slot)
        return state.url if state is not None else None

    def _url(self, slot: str) -> str:
        if slot == PRODUCTION:
            return self.production_url()
        return f"http://{self.name}-{slot}.{FAKE_DOMAIN}"

    def check_package(self, package: Path) -> None:
        """Safe to unpack (the default limits): the fake deploys nothing but the version."""
        from turnout.targets.packages import check_package

        check_package(package)

    def ensure_slot(self, slot: str) -> SlotState:
        with self._lock:
            data = self._load()
            data["slots"].setdefault(slot, None)
            self._save(data)
            return self._state(slot, data["slots"][slot])

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        with self._lock:
            data = self._load()
            if slot not in data["slots"]:
                raise StepError(f"fake target {self.name}: slot {slot!r} does not exist")
            data["slots"][slot] = release.version
            started = self._now()
            token = _record(data, {"kind": "deploy", "status": "succeeded", "at": started})
            self._save(data)
        return Operation(
            OperationKind.DEPLOY,
            self.name,
            slot,
            started,
            token,
            detail={"version": release.version},
        )

    def begin_swap(
        self, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline
    ) -> Operation:
        with self._lock:
            data = self._load()
            slots = data["slots"]
            if slot not in slots or target_slot not in slots:
                raise StepError(f"fake target {self.name}: cannot swap {slot} with {target_slot}")
            if any(op["status"] == "running" for op in data["operations"].values()):
                # What App Service answers (409) while another swap of the app runs.
                raise StepError(f"fake target {self.name}: another swap is in progress")
            if PRODUCTION in (slot, target_slot):
                incoming = slots[target_slot if slot == PRODUCTION else slot]
                if incoming is None:
                    # Like the local target: never put an empty slot in front of traffic.
                    raise StepError(
                        f"fake target {self.name}: slot {slot} is empty; not swapping it"
                        " into production"
                    )
            started = self._now()
            before = {name: slots[name] for name in (slot, target_slot)}
            token = _record(
                data,
                {
                    "kind": "swap",
                    "status": "running",
                    "slot": slot,
                    "target_slot": target_slot,
                    "ends": started + self.swap_seconds,
                    "fails": self.swap_fails,
                },
            )
            _end_due_swaps(data, started)
            self._save(data)
        return Operation(
            OperationKind.SWAP,
            self.name,
            slot,
            started,
            token,
            target_slot=target_slot,
            detail={"before": before},
        )

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        while True:
            with self._lock:
                data = self._load()
            found = data["operations"].get(operation.token)
            if found is None:
                return OperationResult(
                    operation,
                    OperationStatus.FAILED,
                    f"fake target {self.name} knows no operation {operation.token}",
                )
            if found["status"] != "running":
                return self._result(operation, found, data)
            if deadline.passed():
                return OperationResult(
                    operation,
                    OperationStatus.RUNNING,
                    f"swap of {operation.slot} still running (fake target {self.name})",
                )
            time.sleep(deadline.within(max(float(found["ends"]) - self._now(), 0.0) + 0.01))

    def _result(
        self, operation: Operation, found: dict[str, Any], data: dict[str, Any]
    ) -> OperationResult:
        status = OperationStatus(found["status"])
        finished = float(found.get("at") or found.get("ends") or self._now())
        if operation.kind is OperationKind.DEPLOY:
            version = data["slots"].get(operation.slot)
            return OperationResult(
                operation, status, finished_at=finished, state=self._state(operation.slot, version)
            )
        if status is OperationStatus.FAILED:
            return OperationResult(operation, status, str(found.get("message", "")), finished)
        moved = float(found["moved_at"])
        return OperationResult(operation, status, finished_at=moved, traffic_moved_at=moved)

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

    def swap_running(self) -> bool:
        """Whether a swap has started and not ended (observability for tests)."""
        with self._lock:
            data = self._load()
        return any(op["status"] == "running" for op in data["operations"].values())

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
            url=self._url(slot) if version else None,
            state=SlotStatus.RUNNING if version else SlotStatus.EMPTY,
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        import httpx

        host = request.url.host
        with self._lock:
            data = self._load()
        slot = None
        for name in data["slots"]:
            if host == httpx.URL(self._url(name)).host:
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
    return {"slots": {PRODUCTION: None}, "unhealthy": [], "swaps": 0, "operations": {}}


def _record(data: dict[str, Any], operation: dict[str, Any]) -> str:
    token = f"{operation['kind']}-{uuid.uuid4().hex[:12]}"
    data.setdefault("operations", {})[token] = operation
    return token


def _end_due_swaps(data: dict[str, Any], now: float) -> bool:
    """End every running swap whose time has come; whether anything changed."""
    changed = False
    for operation in data.setdefault("operations", {}).values():
        if operation["status"] != "running" or float(operation["ends"]) > now:
            continue
        changed = True
        if operation["fails"]:
            operation.update(status="failed", message=SWAP_FAILED)
            continue
        slots = data["slots"]
        a, b = operation["slot"], operation["target_slot"]
        slots[a], slots[b] = slots[b], slots[a]
        data["swaps"] = int(data.get("swaps", 0)) + 1
        operation.update(status="succeeded", moved_at=float(operation["ends"]))
    return changed


def create(config: LoadedConfig, env: EnvironmentConfig) -> FakeTarget:
    """Entry point for `kind = "fake"`."""
    from turnout.config.targets import FakeTargetConfig

    settings = env.target
    assert isinstance(settings, FakeTargetConfig)
    state_file = config.resolve_path(settings.state_file) if settings.state_file else None
    return FakeTarget(
        env.name,
        state_file=state_file,
        staging_slot=settings.staging_slot,
        swap_seconds=settings.swap_seconds,
        swap_fails=settings.swap_fails,
    )
