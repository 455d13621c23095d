"""`watch`: keep judging production through the rollback window; roll back on a regression."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turnout.api.context import ConfigSource, acting_user, load, open_store


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended without a rollback: `status` is passed, window-over, superseded or
    rolled-back (by an earlier one); a regression it rolled back raises instead (exit 4)."""

    environment: str
    deployment: int
    version: str
    status: str
    summary: str
    swapped_at: float | None = None
    until: float | None = None
    proven: bool | None = None
    """True when this watch proved a held or accepted-unproven release healthy."""
    verdict: Mapping[str, Any] | None = None
    probes: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout watch --json` prints, without its exit code)."""
        document: dict[str, Any] = {
            "environment": self.environment,
            "deployment": self.deployment,
            "version": self.version,
            "status": self.status,
            "summary": self.summary,
        }
        optional = {
            "swapped_at": self.swapped_at,
            "until": self.until,
            "proven": self.proven,
            "verdict": dict(self.verdict) if self.verdict is not None else None,
            "probes": [dict(p) for p in self.probes] or None,
        }
        document.update({key: value for key, value in optional.items() if value is not None})
        return document


def watch(
    env: str,
    *,
    duration: float | None = None,
    actor: str | None = None,
    config: ConfigSource = None,
    progress: Callable[[str], None] | None = None,
) -> WatchResult:
    """Watch `env`'s live deployment for `duration` seconds from now (default: until the
    rollback window ends); lines of progress go to `progress`."""
    from turnout.analysis.postdeploy import watch_environment
    from turnout.clock import SystemClock

    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        done = watch_environment(
            loaded,
            environment,
            store,
            SystemClock(),
            actor=acting_user(actor),
            duration=duration,
            progress=progress or (lambda _line: None),
        )
    return WatchResult(
        environment=str(done["environment"]),
        deployment=int(done["deployment"]),
        version=str(done["version"]),
        status=str(done["status"]),
        summary=str(done["summary"]),
        swapped_at=done.get("swapped_at"),
        until=done.get("until"),
        proven=done.get("proven"),
        verdict=done.get("verdict"),
        probes=tuple(done.get("probes") or ()),
    )
