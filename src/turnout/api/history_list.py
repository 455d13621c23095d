"""`history`: past deployments, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.history import DeploymentDocument, deployment_summary


@dataclass(frozen=True)
class HistoryResult:
    """Deployments (one environment's, or every one's), newest first, without journals."""

    environment: str | None
    deployments: tuple[DeploymentDocument, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout history --json` prints)."""
        return {"deployments": [dict(row) for row in self.deployments]}


def history(
    env: str | None = None, *, limit: int = 20, config: ConfigSource = None
) -> HistoryResult:
    """The latest `limit` deployments of `env` (None: every environment); changes nothing."""
    loaded = load(config, remembered=True)
    if env is not None:
        loaded.env(env)  # an unknown environment is bad input
    with open_store(loaded, read_only=True) as store:
        rows = tuple(
            deployment_summary(store, row.id, with_steps=False)
            for row in store.deployments(env, limit=limit)
        )
    return HistoryResult(env, rows)
