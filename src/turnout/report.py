"""Success metrics from history: the runbook's table plus DORA figures."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from turnout.model import DeploymentStatus, StepStatus
from turnout.store import Store
from turnout.store.records import DeploymentRecord

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig

# The runbook's "Metrics for Success" targets.
TARGETS = {"error_rate": 0.001, "p95_ms": 500.0, "availability": 0.9999, "rollback_rate": 0.05}


def configured_targets(environments: Iterable[EnvironmentConfig]) -> dict[str, float]:
    """The targets the configuration sets (analysis.max_error_rate, analysis.max_p95_ms);
    for several environments the strictest of each. The others are the runbook's."""
    envs = list(environments)
    targets = dict(TARGETS)
    if envs:
        targets["error_rate"] = min(env.analysis.max_error_rate for env in envs)
        targets["p95_ms"] = min(env.analysis.max_p95_ms for env in envs)
    return targets


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _restore_seconds(store: Store, row: DeploymentRecord) -> float | None:
    """From the swap that put the failed version live to the end of the swap back."""
    steps = {s.name: s for s in store.steps(row.id)}
    swap = steps.get("swap")
    if swap is None or swap.status is not StepStatus.UNDONE:
        return None
    return _seconds(
        swap.finished_at if swap.started_at is None else swap.started_at, row.finished_at
    )


def _analysis_evidence(outputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metric evidence of a verify step: in its outputs when it passed, inside the
    failure's evidence when it failed (a rolled-back or held deployment)."""
    failure = outputs.get("evidence")
    for analysis in (
        outputs.get("analysis"),
        failure.get("analysis") if isinstance(failure, Mapping) else None,
    ):
        if isinstance(analysis, Mapping):
            evidence = analysis.get("evidence", analysis)
            if isinstance(evidence, Mapping):
                return evidence
    return {}


def _measured(store: Store, row: DeploymentRecord) -> dict[str, float]:
    """Error rate, p95 and request counts the verify step judged, when it measured them."""
    for step in store.steps(row.id):
        if step.name != "verify":
            continue
        evidence = _analysis_evidence(step.outputs or {})
        found: dict[str, float] = {}
        for key in ("requests", "errors", "error_rate", "p95_ms"):
            value = evidence.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[key] = float(value)
        return found
    return {}


def compute_report(
    store: Store,
    environment: str | None,
    *,
    now: datetime,
    days: float = 30.0,
    targets: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Figures over the last `days` days (finished deployments only), against `targets`
    (default: the runbook's). Error rate, p95 and availability count what users saw while
    every deployment was judged, the failed and rolled-back ones included."""
    since = now - timedelta(days=days)
    rows = [
        r
        for r in store.deployments(environment, limit=10_000)
        if r.created_at >= since and DeploymentStatus(r.status).finished
    ]
    succeeded = [r for r in rows if r.status == DeploymentStatus.SUCCEEDED.value]
    rolled_back = [r for r in rows if r.status == DeploymentStatus.ROLLED_BACK.value]
    later = [r for r in succeeded if r.rolled_back_later is not None]
    needs_person = [r for r in rows if r.status == DeploymentStatus.NEEDS_PERSON.value]
    refused = [r for r in rows if r.status == DeploymentStatus.REFUSED.value]
    attempted = len(succeeded) + len(rolled_back) + len(needs_person)
    failed = len(rolled_back) + len(later) + len(needs_person)
    durations = [d for r in succeeded if (d := _seconds(r.started_at, r.finished_at)) is not None]
    restores = [t for r in rolled_back if (t := _restore_seconds(store, r)) is not None]
    requests = errors = 0.0
    p95s: list[float] = []
    # Users met the failed versions too: until the swap back, their traffic counts.
    for row in [*succeeded, *rolled_back, *needs_person]:
        measured = _measured(store, row)
        requests += measured.get("requests", 0.0)
        errors += measured.get("errors", 0.0)
        if "p95_ms" in measured:
            p95s.append(measured["p95_ms"])
    error_rate = errors / requests if requests else None
    return {
        "environment": environment or "all",
        "days": days,
        "deployments": {
            "succeeded": len(succeeded),
            "rolled_back": len(rolled_back),
            "rolled_back_later": len(later),
            "needs_person": len(needs_person),
            "refused": len(refused),
        },
        "runbook": {
            "error_rate": error_rate,
            "p95_ms": max(p95s) if p95s else None,
            "availability": None if error_rate is None else 1 - error_rate,
            "rollback_rate": (len(rolled_back) + len(later)) / attempted if attempted else None,
            "targets": dict(targets or TARGETS),
            "runbook_targets": TARGETS,
            "measured_requests": int(requests),
        },
        "dora": {
            "deployment_frequency_per_day": len(succeeded) / days,
            "change_failure_rate": failed / attempted if attempted else None,
            "median_time_to_restore_s": statistics.median(restores) if restores else None,
            "median_deploy_duration_s": statistics.median(durations) if durations else None,
        },
    }
