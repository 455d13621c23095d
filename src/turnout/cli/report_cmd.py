"""`turnout report`: DORA's five measures and the runbook's success metrics, by period."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from turnout.cli.common import (
    ConfigOption,
    JsonOption,
    OptionalEnvOption,
    console,
    emit_json,
)
from turnout.errors import BadInput
from turnout.text import duration

if TYPE_CHECKING:
    from turnout.api.report_figures import (
        EnvironmentReport,
        PeriodFigures,
        ReportResult,
        SuccessMetric,
        TrendRow,
    )


class By(StrEnum):
    """Trend rows."""

    WEEK = "week"
    MONTH = "month"


def report(
    env: OptionalEnvOption = None,
    days: Annotated[
        float, typer.Option(help="Look back this many days.", min=0.001, max=36500.0)
    ] = 30.0,
    by: Annotated[
        By | None,
        typer.Option("--by", help="Trend rows per week or month, with the change of each KPI."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End the period at this ISO time (default: now; UTC unless it says)."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write one self-contained HTML file with charts (needs turnout[report]).",
            dir_okay=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """DORA's five measures and the runbook's success metrics (error rate, p95,
    availability, rollback rate), from turnout's own history."""
    from turnout.api import report as figures

    if html is not None:
        from turnout.api.report_figures import require_plotting

        require_plotting()  # before anything is read: says what to install
    result = figures(
        env, days=days, by=None if by is None else by.value, until=_moment(until), config=config
    )
    if html is not None:
        from turnout.api.report_figures import write_page

        write_page(result, html)
    if as_json:
        emit_json(result.to_dict())
        return
    print_report(result)
    if html is not None:
        console.print(f"charts written to {html}", markup=False)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"--until: {text!r} is not an ISO time (e.g. 2026-12-04T12:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _pct(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}g} %"


def _tier(tier: object) -> str:
    value = getattr(tier, "value", None)
    return f"{value} (DORA 2024)" if value else "no tier"


def print_report(result: ReportResult) -> None:
    """Human rendering of a report: each environment's period, then its trend."""
    for environment in result.environments:
        _environment(environment, result.days)


def _environment(report: EnvironmentReport, days: float) -> None:
    totals = report.totals
    console.print(
        f"[bold]{report.environment}[/] — last {days:g} days ({report.timezone})", highlight=False
    )
    _period(totals)
    if report.trend:
        console.print("  trend (Δ: change from the period before)", markup=False)
        for row in report.trend:
            _trend_row(row)


def _period(period: PeriodFigures) -> None:
    c = period.counts
    d = period.dora
    line = (
        f"  deployments: {d.deployment_frequency.deployments} reached production"
        f" ({c.succeeded} kept, {c.rolled_back} rolled back, {c.rolled_back_later} rolled back"
        f" later, {c.held} held, {c.needs_person} needing a person); {c.blocked} blocked"
        " before any traffic moved"
    )
    if c.unfinished:
        line += f", {c.unfinished} unfinished"
    console.print(line, markup=False)
    console.print("  DORA's five measures (tiers: the 2024 report's clusters)", markup=False)
    f = d.deployment_frequency
    per_day = "n/a" if f.per_day is None else f"{f.per_day:.2f}/day ({f.per_day * 7:.1f}/week)"
    _row("deployment frequency", per_day, f"n={f.deployments}", _tier(f.tier))
    lead = d.change_lead_time
    _row(
        "change lead time",
        f"median {duration(lead.median_s)}, p90 {duration(lead.p90_s)}",
        f"n={lead.sample}",
        _tier(lead.tier),
    )
    if lead.unmeasured:
        console.print(
            f"      {lead.unmeasured} not measured: {lead.note or 'no commit known'}", markup=False
        )
    if lead.no_new_commits:
        console.print(
            f"      {lead.no_new_commits} brought no commit new to production (not counted)",
            markup=False,
        )
    cfr = d.change_fail_rate
    _row(
        "change fail rate",
        f"{_pct(cfr.value)} ({cfr.count} of {cfr.sample})",
        f"n={cfr.sample}",
        _tier(cfr.tier),
    )
    rec = d.recovery_time
    recovered = f"median {duration(rec.median_s)}"
    if rec.unrecovered:
        recovered += f"; {rec.unrecovered} not recovered yet"
    _row("failed deployment recovery time", recovered, f"n={rec.sample}", _tier(rec.tier))
    rework = d.rework_rate
    _row(
        "deployment rework rate",
        f"{_pct(rework.value)} ({rework.count} of {rework.sample})",
        f"n={rework.sample}",
        "no tier (not in the 2024 clusters)",
    )
    console.print(
        "  the runbook's success metrics (against this environment's limits)", markup=False
    )
    for metric in period.success.all():
        _metric(metric)


def _row(name: str, value: str, sample: str, tier: str) -> None:
    console.print(f"    {name:<32} {value:<30} {sample:<7} {tier}", markup=False)


def _metric_value(metric: SuccessMetric, value: float | None) -> str:
    if metric.kpi.value == "p95_ms":
        return "n/a" if value is None else f"{value:.0f} ms"
    return _pct(value, 4)


def _metric(metric: SuccessMetric) -> None:
    names = {
        "error_rate": "error rate",
        "p95_ms": "p95 (worst deployment)",
        "availability": "availability",
        "rollback_rate": "rollback rate",
    }
    comparison = ">" if metric.above else "<"
    target = f"target {comparison} {_metric_value(metric, metric.target)}"
    if metric.target != metric.runbook_target:
        target += f" (configured; runbook: {_metric_value(metric, metric.runbook_target)})"
    verdict = {True: "met", False: f"MISSED: {metric.action}", None: "nothing measured"}[metric.met]
    unit = "requests" if metric.kpi.value in {"error_rate", "availability"} else "deployments"
    console.print(
        f"    {names[metric.kpi.value]:<24} {_metric_value(metric, metric.value):>10}  {target}"
        f"  n={metric.sample} {unit}  {verdict}",
        markup=False,
    )


def _delta(name: str, value: float | None) -> str | None:
    if value is None or value == 0:
        return None
    sign = "+" if value > 0 else "-"
    size = abs(value)
    if name.endswith("_s"):
        shown = duration(size)
    elif name == "p95_ms":
        shown = f"{size:.0f} ms"
    elif name == "deployments":
        shown = f"{size:g}"
    else:
        shown = f"{size * 100:.3g} pp"
    return f"{name.removesuffix('_s').removesuffix('_ms').replace('_', ' ')} {sign}{shown}"


def _trend_row(row: TrendRow) -> None:
    p = row.period
    d = p.dora
    s = p.success
    console.print(
        f"    {p.label:<9} deployments {d.deployment_frequency.deployments:>3}"
        f"  lead {duration(d.change_lead_time.median_s):>8}"
        f"  fail {_pct(d.change_fail_rate.value):>8}"
        f"  recovery {duration(d.recovery_time.median_s):>8}"
        f"  rework {_pct(d.rework_rate.value):>8}"
        f"  errors {_pct(s.error_rate.value, 2):>8}"
        f"  p95 {_metric_value(s.p95_ms, s.p95_ms.value):>7}"
        f"  rollbacks {_pct(s.rollback_rate.value):>7}",
        markup=False,
    )
    if row.deltas:
        changes = [c for name, v in row.deltas.items() if (c := _delta(name, v))]
        console.print(f"      Δ {', '.join(changes) if changes else 'no change'}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("report")(report)
