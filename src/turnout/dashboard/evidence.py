"""The evidence of a deployment's verification, as the page draws it: production's traffic
around the swap, every look of the analysis with its sequential tests, the limits and the
baseline, the swap and the decision; and the per-metric table (Kayenta's model)."""

from __future__ import annotations

from dataclasses import dataclass

from turnout.config import LoadedConfig
from turnout.store.deployment_data import AnalysisSample, TrafficPoint
from turnout.store.records import DeploymentRecord, StepRecord


@dataclass(frozen=True)
class Limits:
    """What verification judged against: absolute limits, the baseline and its factor."""

    max_error_rate: float
    max_p95_ms: float
    baseline_factor: float
    baseline_error_rate: float | None
    baseline_p95_ms: float | None

    @property
    def relative_error_rate(self) -> float | None:
        """The error rate that would be a regression against the baseline."""
        rate = self.baseline_error_rate
        return None if rate is None or rate <= 0 else rate * self.baseline_factor

    @property
    def relative_p95_ms(self) -> float | None:
        """The p95 that would be a regression against the baseline."""
        p95 = self.baseline_p95_ms
        return None if p95 is None or p95 <= 0 else p95 * self.baseline_factor


@dataclass(frozen=True)
class MetricRow:
    """One row of the per-metric table: observed against limit and baseline, the test's
    statistic against its threshold, the verdict."""

    metric: str
    observed: str
    limit: str
    baseline: str
    deviation: str
    statistic: str
    verdict: str


@dataclass(frozen=True)
class Evidence:
    """Everything the chart and the table need."""

    traffic: tuple[TrafficPoint, ...]
    looks: tuple[AnalysisSample, ...]
    limits: Limits
    swapped_at: float | None
    decided_at: float | None
    decision: str | None
    rows: tuple[MetricRow, ...]
    swapped_back_at: float | None = None
    """When production went back to the version before (the swap undone, or a later
    rollback)."""

    @property
    def empty(self) -> bool:
        """Nothing measured after a swap (a deployment stopped before it, or a target
        without metrics)."""
        return not self.traffic and not self.looks


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _swapped_at(steps: list[StepRecord]) -> float | None:
    for step in steps:
        if step.name == "swap":
            return _number(step.outputs.get("swapped_at"))
    return None


def _swapped_back_at(row: DeploymentRecord, steps: list[StepRecord]) -> float | None:
    for step in steps:
        if step.name == "swap" and str(step.status) == "undone" and step.finished_at:
            return step.finished_at.timestamp()
    later = row.rolled_back_later
    return None if later is None else later.at.timestamp()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.3g} %"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _deviation(observed: float | None, baseline: float | None) -> str:
    if observed is None or baseline is None or baseline <= 0:
        return "n/a"
    return f"{(observed / baseline - 1) * 100:+.0f} %"


def _verdict(
    observed: float | None, limit: float, relative: float | None, decision: str | None
) -> str:
    """The metric's verdict: over a limit (the judge's absolute and relative checks), else
    what its sequential test decided (healthy, regressed, or undecided yet)."""
    if observed is not None and (
        observed >= limit or (relative is not None and observed >= relative)
    ):
        return "over limit"
    if decision == "continue":
        return "undecided"
    return decision or "not judged"


def _rows(last: AnalysisSample | None, limits: Limits) -> tuple[MetricRow, ...]:
    if last is None:
        return ()
    rows = []
    for name, observed, limit, relative, baseline, shown in (
        (
            "errors",
            last.error_rate,
            limits.max_error_rate,
            limits.relative_error_rate,
            limits.baseline_error_rate,
            _pct,
        ),
        (
            "latency",
            last.p95_ms,
            limits.max_p95_ms,
            limits.relative_p95_ms,
            limits.baseline_p95_ms,
            _ms,
        ),
    ):
        test = last.tests.get(name)
        limit_text = f"< {shown(limit)}"
        if relative is not None:
            limit_text += f" and < {shown(relative)} ({limits.baseline_factor:g}x baseline)"
        rows.append(
            MetricRow(
                metric="error rate" if name == "errors" else "p95 latency",
                observed=shown(observed),
                limit=limit_text,
                baseline=shown(baseline),
                deviation=_deviation(observed, baseline),
                statistic="n/a"
                if test is None
                else f"{test.statistic:.2f} of {test.threshold:.2f} (healthy"
                f" {test.healthy_statistic:.2f} of {test.healthy_threshold:.2f})",
                verdict=_verdict(observed, limit, relative, test.decision if test else None),
            )
        )
    return tuple(rows)


def evidence(config: LoadedConfig, row: DeploymentRecord, steps: list[StepRecord]) -> Evidence:
    """The deployment's evidence, with the limits of its environment as configured now."""
    analysis = config.env(row.environment).analysis
    snapshot = row.data.snapshot
    baseline = (snapshot.baseline if snapshot is not None else None) or {}
    trusted = baseline.get("trusted", True) is not False
    limits = Limits(
        max_error_rate=analysis.max_error_rate,
        max_p95_ms=analysis.max_p95_ms,
        baseline_factor=analysis.baseline_factor,
        baseline_error_rate=_number(baseline.get("error_rate")) if trusted else None,
        baseline_p95_ms=_number(baseline.get("p95_ms")) if trusted else None,
    )
    looks = row.data.analysis_series
    verification = row.data.verification
    decided = next((look for look in looks if look.kind in {"pass", "fail"}), None)
    return Evidence(
        traffic=verification.series if verification is not None else (),
        looks=looks,
        limits=limits,
        swapped_at=_swapped_at(steps),
        decided_at=None if decided is None else decided.at,
        decision=None if decided is None else decided.kind,
        rows=_rows(looks[-1] if looks else None, limits),
        swapped_back_at=_swapped_back_at(row, steps),
    )
