"""What the deployer asked for: emergency, outside the window, the incidents a fix is for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from turnout.store.deployment_data import DeploymentData

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig
    from turnout.model import PlannedDeployment
    from turnout.store import Store


@dataclass(frozen=True)
class DeploymentFlags:
    """The policy-relevant choices of one deployment."""

    deployer: str
    emergency: bool = False
    reason: str | None = None
    outside_window: bool = False
    outside_window_reason: str | None = None
    fixes_incidents: tuple[str, ...] = field(default_factory=tuple)
    """Active incidents this emergency deployment explicitly says it fixes (ids)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "deployer": self.deployer,
            "emergency": self.emergency,
            "reason": self.reason,
            "outside_window": self.outside_window,
            "outside_window_reason": self.outside_window_reason,
            "fixes_incidents": list(self.fixes_incidents),
        }


def flags_from_data(info: PlannedDeployment, data: DeploymentData | None) -> DeploymentFlags:
    """Flags of a deployment from its info and what is recorded for it."""
    data = data or DeploymentData()
    return DeploymentFlags(
        deployer=info.deployer,
        emergency=bool(info.emergency),
        reason=info.reason,
        outside_window=data.outside_window,
        outside_window_reason=data.outside_window_reason or info.reason,
        fixes_incidents=data.fixes_incidents,
    )


def recorded_id(info: PlannedDeployment) -> int | None:
    """The deployment's row id, or None for a planned deployment (not recorded yet)."""
    from turnout.model import DeploymentInfo

    return int(info.id) if isinstance(info, DeploymentInfo) else None


def read_flags(store: Store, info: PlannedDeployment) -> DeploymentFlags:
    """Flags of a recorded deployment (or of a planned one that has no row yet)."""
    dep_id = recorded_id(info)
    row = store.deployment(dep_id) if dep_id is not None else None
    return flags_from_data(info, row.data if row is not None else None)


def is_production(env: EnvironmentConfig) -> bool:
    """Whether production rules apply: `policy.production`, else the name "production"."""
    if env.policy.production is not None:
        return env.policy.production
    return env.name == "production"
