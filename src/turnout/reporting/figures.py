"""The report's figures as frozen records, each with `to_dict` (what `--json` prints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

TIER_EDITION = "DORA 2024"
"""Where the tier labels come from: the last State of DevOps report with four clusters."""


class Tier(StrEnum):
    """A 2024 DORA performance cluster."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def _tier(tier: Tier | None) -> dict[str, Any]:
    return {"tier": None if tier is None else tier.value, "tier_edition": TIER_EDITION}


@dataclass(frozen=True)
class DeploymentFrequency:
    """Deployments that reached production, per day of the period."""

    per_day: float | None
    deployments: int
    deployment_days: int
    """Calendar days (in the environment's timezone) with at least one deployment."""
    days: float
    tier: Tier | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "per_day": self.per_day,
            "per_week": None if self.per_day is None else self.per_day * 7,
            "sample": self.deployments,
            "deployment_days": self.deployment_days,
            "days": self.days,
            **_tier(self.tier),
        }


@dataclass(frozen=True)
class ChangeLeadTime:
    """From the oldest commit a release brought to production to its verified deployment."""

    median_s: float | None
    p90_s: float | None
    sample: int
    """Verified deployments whose commits were read from git."""
    unmeasured: int
    """Verified deployments whose lead time could not be read (git unreachable, no commit)."""
    no_new_commits: int
    """Verified deployments that brought no commit new to production (a redeployment)."""
    note: str | None
    """Why some could not be measured, when some could not."""
    tier: Tier | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "median_s": self.median_s,
            "p90_s": self.p90_s,
            "sample": self.sample,
            "unmeasured": self.unmeasured,
            "no_new_commits": self.no_new_commits,
            "note": self.note,
            **_tier(self.tier),
        }


@dataclass(frozen=True)
class Rate:
    """A share of the deployments that reached production."""

    value: float | None
    count: int
    """Deployments counted in the numerator (failed, or unplanned)."""
    sample: int
    """Deployments that reached production."""
    tier: Tier | None
    has_tiers: bool = True
    """False for deployment rework rate: the 2024 clusters do not include it."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        tier = _tier(self.tier) if self.has_tiers else {"tier": None, "tier_edition": None}
        return {"value": self.value, "count": self.count, "sample": self.sample, **tier}


@dataclass(frozen=True)
class RecoveryTime:
    """From a failed change's swap to production being on a verified version again."""

    median_s: float | None
    sample: int
    """Failed changes that recovered."""
    unrecovered: int
    """Failed changes production has not recovered from yet."""
    tier: Tier | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "median_s": self.median_s,
            "sample": self.sample,
            "unrecovered": self.unrecovered,
            **_tier(self.tier),
        }


@dataclass(frozen=True)
class DoraMeasures:
    """DORA's five software delivery measures for one environment and period."""

    deployment_frequency: DeploymentFrequency
    change_lead_time: ChangeLeadTime
    change_fail_rate: Rate
    recovery_time: RecoveryTime
    rework_rate: Rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "deployment_frequency": self.deployment_frequency.to_dict(),
            "change_lead_time": self.change_lead_time.to_dict(),
            "change_fail_rate": self.change_fail_rate.to_dict(),
            "failed_deployment_recovery_time": self.recovery_time.to_dict(),
            "deployment_rework_rate": self.rework_rate.to_dict(),
        }


class Kpi(StrEnum):
    """The runbook's success metrics ("Metrics for Success")."""

    ERROR_RATE = "error_rate"
    P95_MS = "p95_ms"
    AVAILABILITY = "availability"
    ROLLBACK_RATE = "rollback_rate"


@dataclass(frozen=True)
class SuccessMetric:
    """One of the runbook's success metrics against the environment's limit."""

    kpi: Kpi
    value: float | None
    target: float
    above: bool
    """True when the value must stay above the target (availability), else below."""
    runbook_target: float
    """The runbook's own target (the configured one may differ)."""
    sample: int
    """Requests judged (error rate, availability), deployments measured (p95) or
    deployments that reached production (rollback rate)."""
    action: str
    """What the runbook says to do when the target is missed."""

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None: nothing measured)."""
        if self.value is None:
            return None
        return self.value > self.target if self.above else self.value < self.target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "value": self.value,
            "target": self.target,
            "comparison": ">" if self.above else "<",
            "runbook_target": self.runbook_target,
            "configured": self.target != self.runbook_target,
            "sample": self.sample,
            "met": self.met,
            "action": None if self.met is not False else self.action,
        }


@dataclass(frozen=True)
class SuccessMetrics:
    """The runbook's four success metrics."""

    error_rate: SuccessMetric
    p95_ms: SuccessMetric
    availability: SuccessMetric
    rollback_rate: SuccessMetric

    def all(self) -> tuple[SuccessMetric, ...]:
        """In the runbook's order."""
        return (self.error_rate, self.p95_ms, self.availability, self.rollback_rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {metric.kpi.value: metric.to_dict() for metric in self.all()}


@dataclass(frozen=True)
class OutcomeCounts:
    """Deployments of the period by how they ended."""

    succeeded: int
    rolled_back: int
    rolled_back_later: int
    held: int
    needs_person: int
    blocked: int
    unfinished: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "succeeded": self.succeeded,
            "rolled_back": self.rolled_back,
            "rolled_back_later": self.rolled_back_later,
            "held": self.held,
            "needs_person": self.needs_person,
            "blocked": self.blocked,
            "unfinished": self.unfinished,
        }


@dataclass(frozen=True)
class PeriodFigures:
    """Every figure of one environment over one period."""

    start: datetime
    end: datetime
    label: str
    """e.g. 2026-W48 or 2026-11."""
    counts: OutcomeCounts
    dora: DoraMeasures
    success: SuccessMetrics

    def kpis(self) -> dict[str, float | None]:
        """The headline figure of each KPI, by name (what the trend's deltas compare)."""
        dora = self.dora
        return {
            "deployments": float(dora.deployment_frequency.deployments),
            "change_lead_time_median_s": dora.change_lead_time.median_s,
            "change_fail_rate": dora.change_fail_rate.value,
            "recovery_time_median_s": dora.recovery_time.median_s,
            "rework_rate": dora.rework_rate.value,
            **{metric.kpi.value: metric.value for metric in self.success.all()},
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "label": self.label,
            "deployments": self.counts.to_dict(),
            "dora": self.dora.to_dict(),
            "success": self.success.to_dict(),
        }


@dataclass(frozen=True)
class TrendRow:
    """One period of a trend, with each KPI's change from the period before."""

    period: PeriodFigures
    deltas: dict[str, float | None] | None
    """KPI name → this period's figure minus the previous one's (None for the first row,
    or a KPI missing in either)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.period.to_dict(), "kpis": self.period.kpis(), "deltas": self.deltas}


@dataclass(frozen=True)
class SeriesPoint:
    """Production's traffic over one interval around a deployment's swap."""

    at: datetime
    seconds: float
    requests: int
    error_rate: float | None
    p95_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "at": self.at.isoformat(),
            "seconds": self.seconds,
            "requests": self.requests,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
        }


@dataclass(frozen=True)
class DeploymentLine:
    """One deployment of the period, as the charts draw it."""

    id: int
    version: str
    outcome: str
    emergency: bool
    created_at: datetime
    swapped_at: datetime | None
    rolled_back_at: datetime | None
    failure: str | None
    rework: str | None
    lead_time_s: float | None
    recovery_s: float | None
    requests: int
    error_rate: float | None
    p95_ms: float | None
    series: tuple[SeriesPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def moment(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "version": self.version,
            "outcome": self.outcome,
            "emergency": self.emergency,
            "created_at": self.created_at.isoformat(),
            "swapped_at": moment(self.swapped_at),
            "rolled_back_at": moment(self.rolled_back_at),
            "failure": self.failure,
            "rework": self.rework,
            "lead_time_s": self.lead_time_s,
            "recovery_s": self.recovery_s,
            "requests": self.requests,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "series": [point.to_dict() for point in self.series],
        }


@dataclass(frozen=True)
class EnvironmentReport:
    """One environment over the whole period, its trend and its deployments."""

    environment: str
    timezone: str
    totals: PeriodFigures
    trend: tuple[TrendRow, ...]
    deployments: tuple[DeploymentLine, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "environment": self.environment,
            "timezone": self.timezone,
            **self.totals.to_dict(),
            "trend": [row.to_dict() for row in self.trend],
            "deployment_list": [line.to_dict() for line in self.deployments],
        }
