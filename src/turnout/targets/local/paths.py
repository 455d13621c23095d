"""Where one environment's slot host keeps its files."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.targets import LocalTargetConfig

# AF_UNIX paths are limited to 108 bytes on Linux; longer state dirs get a short alias.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class HostPaths:
    """Files of one slot host, all under its state directory."""

    state_dir: Path

    @property
    def table(self) -> Path:
        """The slot table (JSON, written atomically)."""
        return self.state_dir / "slots.json"

    @property
    def releases(self) -> Path:
        """Unpacked packages, one directory per version and package digest."""
        return self.state_dir / "releases"

    @property
    def logs(self) -> Path:
        """Slot process output, one file per version."""
        return self.state_dir / "logs"

    @property
    def host_log(self) -> Path:
        """The host's own output when it runs in the background."""
        return self.state_dir / "host.log"

    @property
    def pid_file(self) -> Path:
        """Process id of the running host."""
        return self.state_dir / "host.pid"

    @property
    def lock_file(self) -> Path:
        """Held (flock) by the running host so that only one runs per environment."""
        return self.state_dir / "host.lock"

    @property
    def socket(self) -> Path:
        """The admin socket (mode 0600)."""
        path = self.state_dir / "admin.sock"
        if len(os.fsencode(str(path))) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(os.fsencode(str(self.state_dir.resolve()))).hexdigest()[:20]
        base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
        return base / f"turnout-{os.getuid()}" / f"{digest}.sock"

    def log_for(self, version: str) -> Path:
        """Log file of a version's slot processes."""
        return self.logs / f"{safe_name(version)}.log"

    def ensure(self) -> None:
        """Create the directories, readable by the owner only."""
        for folder in (self.state_dir, self.releases, self.logs, self.socket.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        self.socket.parent.chmod(0o700)


def safe_name(text: str) -> str:
    """A string usable as one path component."""
    cleaned = "".join(c if c.isalnum() or c in "._-+" else "_" for c in text)
    return cleaned.lstrip(".") or "_"


def local_settings(env: EnvironmentConfig) -> LocalTargetConfig:
    """The environment's local target settings (it must be a local target)."""
    from turnout.config.targets import LocalTargetConfig
    from turnout.errors import BadInput

    settings = env.target
    if not isinstance(settings, LocalTargetConfig):
        raise BadInput(
            f"environment {env.name} uses target kind {settings.kind!r}, not the local slot host"
        )
    first = env.checks.health[0].path if env.checks.health else None
    if "health_path" not in settings.model_fields_set and first and "{version}" not in first:
        # Unless configured, the host polls what the runbook calls healthy: the first check.
        settings = settings.model_copy(update={"health_path": first})
    return settings


def host_paths(config: LoadedConfig, env: EnvironmentConfig) -> HostPaths:
    """The state directory of an environment's slot host."""
    settings = local_settings(env)
    if settings.state_dir is not None:
        return HostPaths(config.resolve_path(settings.state_dir))
    return HostPaths(config.state_dir / "host" / safe_name(env.name))


def split_address(address: str, key: str = "address") -> tuple[str, int]:
    """host:port -> (host, port); a bad value is a BadInput naming the key."""
    from turnout.errors import BadInput

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BadInput(f"target.{key}: expected host:port, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
