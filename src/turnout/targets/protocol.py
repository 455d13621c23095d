"""The target protocol: where the app runs, with App Service slot semantics.

`production` serves traffic; a swap *exchanges* the contents of two slots, so the
old version stays warm in the staging slot for an instant swap back. Each slot
has its own URL for warm-up and smoke tests. An operation a target cannot do
raises `NotSupported`; it is never a silent no-op.

Deploying and swapping may take minutes and may fail half-way (an App Service swap is
a long-running operation that keeps running when turnout dies). So `begin_deploy` and
`begin_swap` return an `Operation` handle as soon as the target accepted the work; the
engine journals the handle, then `follow` waits for the end. A later process (`turnout
resume`) follows the journaled handle instead of starting the work again. Every call
that may wait takes a `Deadline`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from turnout.errors import StepError
from turnout.model import Release

# Only named in annotations; commands that merely read a target's slots (`status`) do not
# pay for importing the HTTP client.
if TYPE_CHECKING:
    import httpx

PRODUCTION = "production"


class SlotStatus(StrEnum):
    """What a slot is doing (docs/plugins.md, "Slot states")."""

    RUNNING = "running"
    """It holds a version and serves it at its URL: warm-up, smoke tests and a swap may use it."""
    STOPPED = "stopped"
    """It holds a version that is not serving, on purpose (stopped by a person, the host or
    the platform); starting it again or deploying makes it run."""
    CRASHED = "crashed"
    """It holds a version whose process ended on its own: never swapped into production."""
    EMPTY = "empty"
    """No version was ever deployed to it (or its content was swapped away empty)."""


@dataclass(frozen=True)
class SlotState:
    """What a target observes about one slot."""

    name: str
    version: str | None
    """Version deployed in the slot; None when the slot is empty."""
    url: str | None
    """The slot's own base URL (no trailing slash), when it is serving."""
    state: SlotStatus = SlotStatus.RUNNING
    """What the slot is doing (see SlotStatus)."""
    detail: str = ""
    """Free text for people: pid, exit code, log tail."""
    build: str | None = None
    """Which build of the version the slot holds (package digest), when the target knows."""


@dataclass(frozen=True)
class Deadline:
    """The latest moment a call may keep waiting, on the monotonic clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline `seconds` from now."""
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(self.at - time.monotonic(), 0.0)

    def passed(self) -> bool:
        """Whether the deadline is behind us."""
        return time.monotonic() >= self.at

    def within(self, seconds: float) -> float:
        """`seconds`, or less when the deadline comes first (a bound for one wait)."""
        return min(seconds, self.remaining())


class OperationKind(StrEnum):
    """What an operation does."""

    DEPLOY = "deploy"
    SWAP = "swap"


class OperationStatus(StrEnum):
    """Where an operation is."""

    RUNNING = "running"
    """Accepted by the target and not ended yet (it may be following it, or nobody is)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Ended without its effect; the target says whether anything moved (`message`)."""


@dataclass(frozen=True)
class Operation:
    """The handle of a deploy or a swap the target accepted: JSON-ready, kept in the
    deployment's journal, enough for another process to follow it to its end."""

    kind: OperationKind
    target: str
    """The target's name (its environment)."""
    slot: str
    """Deploy: the slot deployed to. Swap: the source slot."""
    started_at: float
    """Unix time the target accepted it."""
    token: str
    """The target's own reference (Azure: the poller's continuation token or Kudu's status
    URL); opaque to everyone else."""
    target_slot: str | None = None
    """Swap: the other slot (production)."""
    polling_url: str = ""
    """Where the platform reports progress, for people and logs."""
    detail: dict[str, Any] = field(default_factory=dict)
    """What the target needs to finish it (the version being deployed, versions before)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        """Inverse of to_dict."""
        target_slot = data.get("target_slot")
        return cls(
            kind=OperationKind(data["kind"]),
            target=str(data["target"]),
            slot=str(data["slot"]),
            started_at=float(data["started_at"]),
            token=str(data["token"]),
            target_slot=None if target_slot is None else str(target_slot),
            polling_url=str(data.get("polling_url", "")),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class OperationResult:
    """What `follow` found: the end of the operation, or that it still runs."""

    operation: Operation
    status: OperationStatus
    message: str = ""
    """Why it failed (and whether anything moved), or what is still running."""
    finished_at: float | None = None
    """Unix time it ended, when it did."""
    traffic_moved_at: float | None = None
    """Swap: unix time production's traffic moved to the new content, as the target knows
    it (not when the call started). None when nothing moved."""
    state: SlotState | None = None
    """Deploy: the slot once the deploy ended."""

    @property
    def running(self) -> bool:
        """Whether the operation has not ended yet."""
        return self.status is OperationStatus.RUNNING


@runtime_checkable
class PlatformChecks(Protocol):
    """Optional: what a cloud target adds to the runbook's pre-conditions and snapshot.

    The azure target implements it (app state, a pending swap with preview,
    permissions; the latest resource-group deployment). Steps call it when present.
    """

    def platform_preconditions(self, *, metrics: bool = False) -> dict[str, Any]:
        """Raise GateFailed (nothing changed) when the platform is not ready; else facts."""
        ...

    def platform_snapshot(self) -> dict[str, Any]:
        """Facts about the platform worth recording before anything changes."""
        ...


class Stickiness(StrEnum):
    """How a client keeps the slot a traffic share gave it."""

    COOKIE = "cookie"
    """A cookie set on the client's first answer names its slot."""
    HEADER = "header"
    """A header the client sends identifies it; the same value always gets the same slot."""


@dataclass(frozen=True)
class TrafficShare:
    """A share of production's traffic routed to another slot (a canary)."""

    slot: str | None
    """The slot that gets the share; None when production gets everything."""
    percent: float = 0.0
    """Per cent of new clients sent to `slot` (0: none)."""
    stickiness: Stickiness = Stickiness.COOKIE
    name: str = ""
    """The cookie's or the header's name."""

    @property
    def active(self) -> bool:
        """Whether any traffic goes to the other slot."""
        return self.slot is not None and self.percent > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "slot": self.slot,
            "percent": self.percent,
            "stickiness": self.stickiness.value,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrafficShare:
        """Inverse of to_dict."""
        slot = data.get("slot")
        return cls(
            slot=None if slot is None else str(slot),
            percent=float(data.get("percent") or 0.0),
            stickiness=Stickiness(str(data.get("stickiness") or Stickiness.COOKIE.value)),
            name=str(data.get("name") or ""),
        )


NO_SHARE = TrafficShare(None, 0.0)
"""Everything to production."""


@runtime_checkable
class SharesTraffic(Protocol):
    """Optional: a target that can route a share of production's traffic to another slot
    (the canary phase). The local router and App Service's routing rules can; a target
    without it is given no canary (the phase is skipped with a message)."""

    shares_traffic: bool
    """Capability flag: False on a target whose platform cannot route a share."""

    def route_share(self, share: TrafficShare) -> TrafficShare:
        """Route `share.percent` per cent of new clients to `share.slot`, each kept on its
        slot by the stickiness; percent 0 (or slot None) sends everything to production at
        once. The share in force afterwards."""
        ...

    def current_share(self) -> TrafficShare:
        """The share in force now (NO_SHARE when production gets everything)."""
        ...


def can_share_traffic(target: object) -> bool:
    """Whether the target can route a share of production's traffic to another slot."""
    return isinstance(target, SharesTraffic) and bool(target.shares_traffic)


@runtime_checkable
class FollowsConfiguration(Protocol):
    """A target whose runner keeps its own copy of the settings (the local slot host)."""

    def check_settings(self) -> list[str]:
        """Refused when the runner cannot follow the configuration without a restart."""
        ...


@runtime_checkable
class Target(Protocol):
    """Operations the runbook needs from where the app runs."""

    name: str

    def slots(self) -> dict[str, SlotState]:
        """Observe every slot (production included)."""
        ...

    def production_url(self) -> str:
        """Base URL that serves production traffic."""
        ...

    def check_package(self, package: Path) -> None:
        """PackageError (exit 2) unless this target can deploy the package; changes nothing.

        The runbook's pre-flight calls it before anything is announced."""
        ...

    def ensure_slot(self, slot: str) -> SlotState:
        """Create the slot if it does not exist (runbook Phase 3.1); return its state."""
        ...

    def slot_url(self, slot: str) -> str | None:
        """The slot's own base URL (production: the URL that serves traffic); None when the
        slot does not serve (empty, stopped, crashed, missing)."""
        ...

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        """Start putting the release's package into the slot (and starting it); the handle
        once the target accepted it. Idempotent per version: a slot already running it gives
        an operation that has ended. Refusals before anything started raise StepError."""
        ...

    def begin_swap(
        self, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline
    ) -> Operation:
        """Start exchanging the contents of two slots (atomically, for traffic); the handle
        once the target accepted it. Refusals before anything started raise StepError."""
        ...

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        """Wait for the operation's end, until the deadline; RUNNING when it has not ended
        by then. Works on a handle another process started."""
        ...

    def transport(self) -> httpx.BaseTransport | None:
        """The HTTP transport that reaches slot URLs; None means the real network.

        The fake target answers its slot URLs in-process (an httpx MockTransport),
        so warm-up, smoke and health checks run unchanged against it.
        """
        ...

    def close(self) -> None:
        """Release connections and resources held by this client."""
        ...


def deploy_and_wait(
    target: Target, slot: str, release: Release, *, deadline: Deadline | None = None
) -> SlotState:
    """Deploy and wait for the end (for callers that keep no journal); the slot's state.
    A failed deploy, or one still running at the deadline, raises StepError."""
    limit = deadline or Deadline.after(DEFAULT_WAIT)
    result = wait_for(target, target.begin_deploy(slot, release, deadline=limit), limit)
    return result.state or target.slots()[slot]


def swap_and_wait(
    target: Target, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline | None = None
) -> OperationResult:
    """Swap and wait for the end (for callers that keep no journal); the swap's result.
    A failed swap, or one still running at the deadline, raises StepError."""
    limit = deadline or Deadline.after(DEFAULT_WAIT)
    return wait_for(target, target.begin_swap(slot, target_slot, deadline=limit), limit)


class BlockingCalls:
    """`deploy` and `swap` methods that wait for the end, for the built-in targets' direct
    users (tests, benchmarks, the demo): `deploy_and_wait` and `swap_and_wait`."""

    def deploy(
        self: Target, slot: str, release: Release, *, deadline: Deadline | None = None
    ) -> SlotState:
        """Deploy and wait; the slot's state after it."""
        return deploy_and_wait(self, slot, release, deadline=deadline)

    def swap(
        self: Target, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline | None = None
    ) -> OperationResult:
        """Swap and wait; the swap's result."""
        return swap_and_wait(self, slot, target_slot, deadline=deadline)


DEFAULT_WAIT = 3600.0
"""Seconds a call waits when the caller gives no deadline (targets bound each of their own
waits by their configured timeouts too, e.g. azure's swap_timeout)."""


def wait_for(target: Target, operation: Operation, deadline: Deadline) -> OperationResult:
    """Follow an operation to its end; StepError when it failed or outlived the deadline."""
    result = target.follow(operation, deadline=deadline)
    if result.status is OperationStatus.SUCCEEDED:
        return result
    what = f"{operation.kind} of {operation.slot}"
    if result.running:
        raise StepError(f"{what} still running at the deadline: {result.message}")
    raise StepError(result.message or f"{what} failed")
