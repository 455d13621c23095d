"""DORA's five measures and the runbook's success metrics over a set of deployments.

Definitions (docs/report.md has them for people):

- a *deployment* is one that reached production: traffic moved to it (a swap that went
  through, or a plan without a swap that succeeded). Deployments stopped at a gate or
  before the swap are counted apart as blocked, never as deployments or failures;
- *deployment frequency*: deployments per day of the period;
- *change lead time*: median and p90 of the lead times of deployments verified in the
  period (reporting.leadtime);
- *change fail rate*: deployments of the period that failed (rolled back by turnout,
  rolled back later, followed by an emergency deployment within 24 h, or failed without
  being swapped back) over deployments;
- *failed deployment recovery time*: median, over the failed deployments of the period
  that recovered, from the failing swap to production being on a verified version again;
- *deployment rework rate*: unplanned deployments (emergencies, deployments naming the
  incidents they fix, and the first deployment after a failed one) over deployments.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from turnout.reporting.facts import DeploymentFacts, Outcome
from turnout.reporting.figures import (
    ChangeLeadTime,
    DeploymentFrequency,
    DoraMeasures,
    Kpi,
    OutcomeCounts,
    Rate,
    RecoveryTime,
    SuccessMetric,
    SuccessMetrics,
    Tier,
)
from turnout.reporting.leadtime import LeadTime

HOUR = 3600.0
DAY = 24 * HOUR

RUNBOOK_TARGETS = {
    Kpi.ERROR_RATE: 0.001,
    Kpi.P95_MS: 500.0,
    Kpi.AVAILABILITY: 0.9999,
    Kpi.ROLLBACK_RATE: 0.05,
}
"""The runbook's "Metrics for Success" targets."""

RUNBOOK_ACTIONS = {
    Kpi.ERROR_RATE: "Investigate immediately",
    Kpi.P95_MS: "Review performance",
    Kpi.AVAILABILITY: "Check health endpoints",
    Kpi.ROLLBACK_RATE: "Review deployment process",
}
"""The runbook's "Action if Exceeded" of each metric."""


def frequency_tier(per_day: float) -> Tier:
    """2024: elite on demand (daily or more), high daily to weekly, medium weekly to
    monthly, low less often."""
    if per_day >= 1.0:
        return Tier.ELITE
    if per_day >= 1.0 / 7:
        return Tier.HIGH
    if per_day >= 1.0 / 30:
        return Tier.MEDIUM
    return Tier.LOW


def lead_time_tier(seconds: float) -> Tier:
    """2024: elite under a day, high under a week, medium under a month, low beyond."""
    if seconds < DAY:
        return Tier.ELITE
    if seconds < 7 * DAY:
        return Tier.HIGH
    if seconds < 30 * DAY:
        return Tier.MEDIUM
    return Tier.LOW


def fail_rate_tier(rate: float) -> Tier:
    """2024's clusters had change fail rates of 5 % (elite), 10 % (medium), 20 % (high) and
    40 % (low): high and medium are inverted that year. The tier is the cluster whose rate
    is nearest (boundaries halfway: 7.5 %, 15 %, 30 %)."""
    if rate <= 0.075:
        return Tier.ELITE
    if rate <= 0.15:
        return Tier.MEDIUM
    if rate <= 0.30:
        return Tier.HIGH
    return Tier.LOW


def recovery_tier(seconds: float) -> Tier:
    """2024: elite under an hour, high (and medium) under a day, low beyond."""
    if seconds < HOUR:
        return Tier.ELITE
    if seconds < DAY:
        return Tier.HIGH
    return Tier.LOW


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by the nearest-rank method (a value that occurred)."""
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)), 1)
    return ordered[rank - 1]


def counts(facts: Sequence[DeploymentFacts]) -> OutcomeCounts:
    """Deployments by how they ended."""

    def n(outcome: Outcome) -> int:
        return sum(1 for f in facts if f.outcome is outcome)

    return OutcomeCounts(
        succeeded=n(Outcome.SUCCEEDED),
        rolled_back=n(Outcome.ROLLED_BACK),
        rolled_back_later=n(Outcome.ROLLED_BACK_LATER),
        held=n(Outcome.HELD),
        needs_person=n(Outcome.NEEDS_PERSON),
        blocked=n(Outcome.BLOCKED),
        unfinished=n(Outcome.UNFINISHED),
    )


def dora(
    deployed: Sequence[DeploymentFacts],
    verified: Sequence[DeploymentFacts],
    leads: dict[int, LeadTime],
    *,
    days: float,
    timezone: str,
) -> DoraMeasures:
    """The five measures: `deployed` reached production in the period, `verified` were
    verified in production in it."""
    zone = ZoneInfo(timezone)
    sample = len(deployed)
    per_day = sample / days if days > 0 else None
    frequency = DeploymentFrequency(
        per_day=per_day,
        deployments=sample,
        deployment_days=len(
            {f.swapped_at.astimezone(zone).date() for f in deployed if f.swapped_at}
        ),
        days=days,
        tier=None if per_day is None else frequency_tier(per_day),
    )
    measured = [leads[f.id] for f in verified if f.id in leads]
    seconds = [m.seconds for m in measured if m.seconds is not None]
    problems = [m.problem for m in measured if m.problem is not None]
    unmeasured = sum(1 for f in verified if f.id not in leads) + len(problems)
    note = None
    if problems:
        note = "; ".join(dict.fromkeys(problems))
    median = statistics.median(seconds) if seconds else None
    lead = ChangeLeadTime(
        median_s=median,
        p90_s=percentile(seconds, 0.9) if seconds else None,
        sample=len(seconds),
        unmeasured=unmeasured,
        no_new_commits=sum(1 for m in measured if m.no_new_commits),
        note=note,
        tier=None if median is None else lead_time_tier(median),
    )
    failed = [f for f in deployed if f.failure is not None]
    rate = len(failed) / sample if sample else None
    recoveries = [s for f in failed if (s := f.recovery_seconds) is not None]
    recovery_median = statistics.median(recoveries) if recoveries else None
    unplanned = sum(1 for f in deployed if f.rework is not None)
    return DoraMeasures(
        deployment_frequency=frequency,
        change_lead_time=lead,
        change_fail_rate=Rate(
            value=rate,
            count=len(failed),
            sample=sample,
            tier=None if rate is None else fail_rate_tier(rate),
        ),
        recovery_time=RecoveryTime(
            median_s=recovery_median,
            sample=len(recoveries),
            unrecovered=len(failed) - len(recoveries),
            tier=None if recovery_median is None else recovery_tier(recovery_median),
        ),
        rework_rate=Rate(
            value=unplanned / sample if sample else None,
            count=unplanned,
            sample=sample,
            tier=None,
            has_tiers=False,
        ),
    )


def success(
    deployed: Sequence[DeploymentFacts], *, max_error_rate: float, max_p95_ms: float
) -> SuccessMetrics:
    """The runbook's success metrics from what users received: every request verification
    judged on production, the failed and rolled-back deployments' included."""
    requests = sum(f.requests for f in deployed)
    errors = sum(f.errors for f in deployed)
    error_rate = errors / requests if requests else None
    p95s = [f.p95_ms for f in deployed if f.p95_ms is not None]
    rolled_back = sum(
        1 for f in deployed if f.outcome in {Outcome.ROLLED_BACK, Outcome.ROLLED_BACK_LATER}
    )

    def metric(kpi: Kpi, value: float | None, target: float, sample: int) -> SuccessMetric:
        return SuccessMetric(
            kpi=kpi,
            value=value,
            target=target,
            above=kpi is Kpi.AVAILABILITY,
            runbook_target=RUNBOOK_TARGETS[kpi],
            sample=sample,
            action=RUNBOOK_ACTIONS[kpi],
        )

    return SuccessMetrics(
        error_rate=metric(Kpi.ERROR_RATE, error_rate, max_error_rate, requests),
        # The highest p95 a deployment was judged at: a period's p95 cannot be rebuilt from
        # the deployments' own, and the worst one is what the limit is about.
        p95_ms=metric(Kpi.P95_MS, max(p95s) if p95s else None, max_p95_ms, len(p95s)),
        availability=metric(
            Kpi.AVAILABILITY,
            None if error_rate is None else 1 - error_rate,
            RUNBOOK_TARGETS[Kpi.AVAILABILITY],
            requests,
        ),
        rollback_rate=metric(
            Kpi.ROLLBACK_RATE,
            rolled_back / len(deployed) if deployed else None,
            RUNBOOK_TARGETS[Kpi.ROLLBACK_RATE],
            len(deployed),
        ),
    )


def within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    """Whether a moment falls in [start, end)."""
    return moment is not None and start <= moment < end


def period_days(start: datetime, end: datetime) -> float:
    """The period's length in days."""
    return (end - start) / timedelta(days=1)
