"""One environment's report: the period's figures, a trend by week or month, and the
deployments the charts draw."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from turnout.reporting.facts import DeploymentFacts
from turnout.reporting.figures import (
    DeploymentLine,
    EnvironmentReport,
    PeriodFigures,
    SeriesPoint,
    TrendRow,
)
from turnout.reporting.leadtime import LeadTime
from turnout.reporting.measures import counts, dora, period_days, success, within


class Grouping(StrEnum):
    """How `--by` cuts the period into rows."""

    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Limits:
    """An environment's configured limits and where its calendar is."""

    max_error_rate: float
    max_p95_ms: float
    timezone: str


def period_figures(
    facts: Sequence[DeploymentFacts],
    leads: dict[int, LeadTime],
    limits: Limits,
    start: datetime,
    end: datetime,
    label: str,
    *,
    now: datetime,
) -> PeriodFigures:
    """Every figure over [start, end): deployments that reached production in it, those
    verified in it, and every deployment begun in it for the counts by outcome."""
    deployed = [f for f in facts if within(f.swapped_at, start, end)]
    verified = [f for f in facts if within(f.verified_at, start, end) and f.reached_production]
    begun = [f for f in facts if within(f.created_at, start, end)]
    # A period not over yet counts the days so far.
    days = period_days(start, min(end, max(now, start)))
    return PeriodFigures(
        start=start,
        end=end,
        label=label,
        counts=counts(begun),
        dora=dora(deployed, verified, leads, days=days, timezone=limits.timezone),
        success=success(
            deployed, max_error_rate=limits.max_error_rate, max_p95_ms=limits.max_p95_ms
        ),
    )


def periods(
    since: datetime, until: datetime, by: Grouping, timezone: str
) -> list[tuple[datetime, datetime, str]]:
    """Calendar weeks (Monday to Monday) or months in the environment's timezone that
    overlap [since, until), as UTC bounds with their label; periods with no deployment
    are rows too."""
    zone = ZoneInfo(timezone)
    local = since.astimezone(zone)
    if by is Grouping.WEEK:
        day = local.date() - timedelta(days=local.weekday())
    else:
        day = local.date().replace(day=1)
    found: list[tuple[datetime, datetime, str]] = []
    while True:
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        if by is Grouping.WEEK:
            following = day + timedelta(days=7)
            year, week, _ = day.isocalendar()
            label = f"{year}-W{week:02d}"
        else:
            following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
            label = f"{day.year}-{day.month:02d}"
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        if start >= until:
            return found
        found.append((start.astimezone(UTC), end.astimezone(UTC), label))
        day = following


def trend(
    facts: Sequence[DeploymentFacts],
    leads: dict[int, LeadTime],
    limits: Limits,
    since: datetime,
    now: datetime,
    by: Grouping,
) -> tuple[TrendRow, ...]:
    """A row per period, each with its KPIs' change from the row before."""
    rows: list[TrendRow] = []
    previous: PeriodFigures | None = None
    for start, end, label in periods(since, now + timedelta(microseconds=1), by, limits.timezone):
        figures = period_figures(facts, leads, limits, start, end, label, now=now)
        deltas = None
        if previous is not None:
            before = previous.kpis()
            deltas = {name: _delta(value, before[name]) for name, value in figures.kpis().items()}
        rows.append(TrendRow(figures, deltas))
        previous = figures
    return tuple(rows)


def _delta(value: float | None, before: float | None) -> float | None:
    return None if value is None or before is None else value - before


def deployment_line(fact: DeploymentFacts, leads: dict[int, LeadTime]) -> DeploymentLine:
    """A deployment as the charts draw it."""
    lead = leads.get(fact.id)
    return DeploymentLine(
        id=fact.id,
        version=fact.version,
        outcome=fact.outcome.value,
        emergency=fact.emergency,
        created_at=fact.created_at,
        swapped_at=fact.swapped_at,
        rolled_back_at=fact.rolled_back_at,
        failure=None if fact.failure is None else fact.failure.value,
        rework=None if fact.rework is None else fact.rework.value,
        lead_time_s=None if lead is None else lead.seconds,
        recovery_s=fact.recovery_seconds,
        requests=fact.requests,
        error_rate=fact.errors / fact.requests if fact.requests else None,
        p95_ms=fact.p95_ms,
        series=tuple(
            SeriesPoint(
                at=datetime.fromtimestamp(p.at, UTC),
                seconds=p.seconds,
                requests=p.requests,
                error_rate=p.error_rate,
                p95_ms=p.p95_ms,
            )
            for p in fact.series
        ),
    )


def environment_report(
    environment: str,
    facts: Sequence[DeploymentFacts],
    leads: dict[int, LeadTime],
    limits: Limits,
    *,
    now: datetime,
    days: float,
    by: Grouping | None,
) -> EnvironmentReport:
    """The environment's figures over the last `days` days (and by week or month)."""
    since = now - timedelta(days=days)
    label = f"last {days:g} days"
    # What happened at this very instant belongs to the period too.
    end = now + timedelta(microseconds=1)
    totals = period_figures(facts, leads, limits, since, end, label, now=now)
    touched = [
        f for f in facts if within(f.created_at, since, end) or within(f.swapped_at, since, end)
    ]
    return EnvironmentReport(
        environment=environment,
        timezone=limits.timezone,
        totals=totals,
        trend=() if by is None else trend(facts, leads, limits, since, now, by),
        deployments=tuple(deployment_line(f, leads) for f in touched),
    )
