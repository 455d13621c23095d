"""The target protocol: where the app runs, with App Service slot semantics.

`production` serves traffic; a swap *exchanges* the contents of two slots, so the
old version stays warm in the staging slot for an instant swap back. Each slot
has its own URL for warm-up and smoke tests. An operation a target cannot do
raises `NotSupported`; it is never a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from turnout.model import Release

# Only named in annotations; commands that merely read a target's slots (`status`) do not
# pay for importing the HTTP client.
if TYPE_CHECKING:
    import httpx

PRODUCTION = "production"


@dataclass(frozen=True)
class SlotState:
    """What a target observes about one slot."""

    name: str
    version: str | None
    """Version deployed in the slot; None when the slot is empty."""
    url: str | None
    """The slot's own base URL (no trailing slash), when it is serving."""
    state: str = "running"
    """running, stopped, crashed or empty."""
    detail: str = ""
    """Free text for people: pid, exit code, log tail."""
    build: str | None = None
    """Which build of the version the slot holds (package digest), when the target knows."""


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

    def deploy(self, slot: str, release: Release) -> SlotState:
        """Put the release's package into the slot and start it; idempotent per version."""
        ...

    def swap(self, slot: str, target_slot: str = PRODUCTION) -> None:
        """Exchange the contents of two slots atomically."""
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
