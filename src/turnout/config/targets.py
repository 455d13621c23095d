"""Target settings per environment: where the app runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.plugins import TargetPlugin
from turnout.config.secrets import SecretOrText, SecretRef
from turnout.config.templates import check_command_template, check_template


class TargetSettings(Section):
    """What every target's settings have; each kind's model adds its own keys.

    `[environments.NAME.target]` is validated in two passes: `kind` first, against the
    installed targets (the `turnout.targets` entry points), then the whole table against
    the model that target brings."""

    kind: str
    staging_slot: str = "blue"
    """The slot new versions are staged in before the swap."""


class FakeTargetConfig(TargetSettings):
    """The in-process fake target (tests, dry runs). `state_file` makes it survive restarts."""

    kind: Literal["fake"] = "fake"
    state_file: Path | None = None
    healthy: bool = True
    swap_seconds: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    """Seconds every swap runs before traffic moves (a slow App Service swap)."""
    swap_fails: bool = False
    """Every swap fails after it started, moving nothing (a swap whose warm-up failed)."""


class LocalTargetConfig(TargetSettings):
    """The local slot host: slot processes behind a router on this machine."""

    kind: Literal["local"] = "local"
    address: str = "127.0.0.1:8080"
    """host:port the router listens on (production traffic)."""
    command: str = "python -m app"
    """Command template that starts a slot process in the release directory; PORT is set.

    Placeholders: {port}, {version}, {release_dir}, {python} (the interpreter running
    turnout). Split like a shell would, but run without a shell."""
    slot_host: str = "127.0.0.1"
    """Interface the slot processes listen on (each slot's own URL)."""
    drain_timeout: float = Field(default=30.0, ge=0, le=MAX_SECONDS)
    """Seconds in-flight requests may take to finish on a process being retired."""
    upstream_timeout: float = Field(default=60.0, gt=0, le=MAX_SECONDS)
    """Seconds the router waits for a slot process to send anything (the response's start,
    or the next piece of its body) before it answers 504 (or, mid-body, closes)."""
    stop_grace: float = Field(default=10.0, ge=0, le=MAX_SECONDS)
    """Seconds between SIGTERM and SIGKILL when stopping a slot process."""
    start_timeout: float = Field(default=30.0, gt=0, le=MAX_SECONDS)
    """Seconds a new slot process has to start listening on its port."""
    health_path: str = "/health"
    """Path the host polls on every running slot for `host status`; unset, the path of the
    first `checks.health` check (or /health)."""
    health_interval: float = Field(default=5.0, gt=0, le=MAX_SECONDS)
    metrics_address: str | None = None
    """host:port (loopback) serving Prometheus text on /metrics; unset: only via the
    admin socket (`turnout host status --metrics`)."""
    metrics_retention: int = Field(default=7200, ge=3600, le=int(MAX_SECONDS))
    """Seconds of per-second traffic counters kept in memory."""
    settings: dict[str, SecretOrText] = Field(default_factory=dict)
    """Environment variables given to every slot process."""
    slot_settings: dict[str, dict[str, SecretOrText]] = Field(default_factory=dict)
    """Slot-sticky settings: slot name -> variables that stay with the slot on a swap."""
    pass_env: list[str] = Field(default_factory=list)
    """Names of the host's environment variables slot processes also get (besides the
    allow-list and `settings`); everything else, integration tokens included, is kept out."""
    keep_releases: int = Field(default=3, ge=0)
    """Unpacked releases kept besides the ones in a slot (for rollbacks without a package)."""
    max_release_mb: int = Field(default=2048, gt=0)
    """Largest size of an unpacked release, in MiB; bigger packages are refused."""
    unpack_timeout: float = Field(default=300.0, gt=0)
    """Seconds unpacking a package may take before the deployment is refused."""
    admin_timeout: float = Field(default=15.0, gt=0, le=MAX_SECONDS)
    """Seconds the host has to answer a request on its admin socket (a deploy and a swap
    get their own deadline from the timeouts above); a host that does not is wedged."""
    state_dir: Path | None = None
    """Where the host keeps releases, logs, slot table and admin socket.

    Default: .turnout/host/ENV next to turnout.toml."""

    @field_validator("address", "metrics_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, such as 127.0.0.1:8080")
        return value

    @field_validator("slot_settings")
    @classmethod
    def _slot_names(
        cls, value: dict[str, dict[str, SecretRef | str]]
    ) -> dict[str, dict[str, SecretRef | str]]:
        allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
        for name, settings in value.items():
            if not name or not set(name) <= allowed:
                raise ValueError(f"slot name {name!r}: use lowercase letters, digits, - and _")
            for key, text in settings.items():
                check_setting(key, text)
        return value

    @field_validator("command")
    @classmethod
    def _command_template(cls, value: str) -> str:
        return check_command_template(value, SLOT_PLACEHOLDERS)

    @field_validator("settings")
    @classmethod
    def _setting_templates(cls, value: dict[str, SecretRef | str]) -> dict[str, SecretRef | str]:
        for key, text in value.items():
            check_setting(key, text)
        return value


SLOT_PLACEHOLDERS = ("port", "version", "release_dir", "python", "config_dir", "venv")
"""What the slot host fills into `command` and settings when it starts a slot process
(`venv` only for a release holding a Python virtual environment)."""


def check_setting(name: str, text: SecretRef | str) -> None:
    """One slot setting: a template naming only the slot placeholders (or a secret)."""
    if isinstance(text, SecretRef):
        return
    try:
        check_template(text, SLOT_PLACEHOLDERS)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


FAKE = TargetPlugin("fake", FakeTargetConfig, "turnout.targets.fake:create")
"""The `fake` entry point of `turnout.targets`."""
LOCAL = TargetPlugin("local", LocalTargetConfig, "turnout.targets.local:create")
"""The `local` entry point of `turnout.targets`."""
