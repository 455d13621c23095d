"""Target settings per environment: where the app runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from turnout.config.base import Section


class FakeTargetConfig(Section):
    """The in-process fake target (tests, dry runs). `state_file` makes it survive restarts."""

    kind: Literal["fake"] = "fake"
    state_file: Path | None = None
    staging_slot: str = "blue"
    healthy: bool = True


class LocalTargetConfig(Section):
    """The local slot host: slot processes behind a router on this machine."""

    kind: Literal["local"] = "local"
    address: str = "127.0.0.1:8080"
    """host:port the router listens on (production traffic)."""
    command: str = "python -m app"
    """Command template that starts a slot process in the release directory; PORT is set."""
    staging_slot: str = "blue"
    slot_host: str = "127.0.0.1"
    drain_timeout: float = 30.0
    stop_grace: float = 10.0
    settings: dict[str, str] = Field(default_factory=dict)
    """Environment variables given to every slot process."""
    slot_settings: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Slot-sticky settings: slot name -> variables that stay with the slot on a swap."""
    state_dir: Path | None = None
    """Where the host keeps releases, logs, slot table and admin socket.

    Default: .turnout/host/ENV next to turnout.toml."""


TargetConfig = Annotated[FakeTargetConfig | LocalTargetConfig, Field(discriminator="kind")]
