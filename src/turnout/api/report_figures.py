"""`report`: success metrics and DORA figures from history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from turnout.api.context import ConfigSource, load, open_store


@dataclass(frozen=True)
class DeploymentCounts:
    """Finished deployments of the period, by how they ended."""

    succeeded: int
    rolled_back: int
    rolled_back_later: int
    needs_person: int
    refused: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "succeeded": self.succeeded,
            "rolled_back": self.rolled_back,
            "rolled_back_later": self.rolled_back_later,
            "needs_person": self.needs_person,
            "refused": self.refused,
        }


@dataclass(frozen=True)
class RunbookFigures:
    """The runbook's success metrics against the configured targets (and the runbook's)."""

    error_rate: float | None
    p95_ms: float | None
    availability: float | None
    rollback_rate: float | None
    targets: Mapping[str, float]
    runbook_targets: Mapping[str, float]
    measured_requests: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "availability": self.availability,
            "rollback_rate": self.rollback_rate,
            "targets": dict(self.targets),
            "runbook_targets": dict(self.runbook_targets),
            "measured_requests": self.measured_requests,
        }


@dataclass(frozen=True)
class DoraFigures:
    """DORA's four keys as turnout's history can tell them."""

    deployment_frequency_per_day: float
    change_failure_rate: float | None
    median_time_to_restore_s: float | None
    median_deploy_duration_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "deployment_frequency_per_day": self.deployment_frequency_per_day,
            "change_failure_rate": self.change_failure_rate,
            "median_time_to_restore_s": self.median_time_to_restore_s,
            "median_deploy_duration_s": self.median_deploy_duration_s,
        }


@dataclass(frozen=True)
class ReportResult:
    """The figures of one environment (or "all") over the last `days` days."""

    environment: str
    days: float
    deployments: DeploymentCounts
    runbook: RunbookFigures
    dora: DoraFigures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout report --json` prints)."""
        return {
            "environment": self.environment,
            "days": self.days,
            "deployments": self.deployments.to_dict(),
            "runbook": self.runbook.to_dict(),
            "dora": self.dora.to_dict(),
        }


def report(
    env: str | None = None, *, days: float = 30.0, config: ConfigSource = None
) -> ReportResult:
    """Figures of `env` (None: every environment, against the strictest targets)."""
    from turnout.report import compute_report, configured_targets

    loaded = load(config)
    environments = [loaded.env(env)] if env is not None else list(loaded.environments.values())
    with open_store(loaded, read_only=True) as store:
        figures = compute_report(
            store, env, now=store.now(), days=days, targets=configured_targets(environments)
        )
    runbook = figures["runbook"]
    return ReportResult(
        environment=str(figures["environment"]),
        days=float(figures["days"]),
        deployments=DeploymentCounts(**figures["deployments"]),
        runbook=RunbookFigures(
            error_rate=runbook["error_rate"],
            p95_ms=runbook["p95_ms"],
            availability=runbook["availability"],
            rollback_rate=runbook["rollback_rate"],
            targets=dict(runbook["targets"]),
            runbook_targets=dict(runbook["runbook_targets"]),
            measured_requests=int(runbook["measured_requests"]),
        ),
        dora=DoraFigures(**figures["dora"]),
    )
