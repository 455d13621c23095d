"""`turnout report --html FILE`: one self-contained page with the report's charts.

The charts are drawn by matplotlib (the `report` extra) without a browser and inlined as
SVG; the page loads nothing from anywhere (no script, font or image from another host),
so it can be mailed, archived or opened offline.
"""

from __future__ import annotations

import html
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from turnout.errors import BadInput, TurnoutError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from turnout.api.report_figures import ReportResult
    from turnout.reporting.figures import (
        DeploymentLine,
        EnvironmentReport,
        PeriodFigures,
    )

INSTALL_HINT = "pip install 'turnout[report]'"
MAX_DEPLOYMENT_CHARTS = 12
"""The newest deployments drawn one by one (the older ones are in the tables)."""

OUTCOME_COLOURS = {
    "succeeded": "#2e7d32",
    "rolled back": "#c62828",
    "rolled back later": "#ef6c00",
    "held": "#f9a825",
    "needs a person": "#6a1b9a",
    "blocked": "#90a4ae",
    "unfinished": "#cfd8dc",
}
TIER_BANDS = (
    # 2024's clusters by nearest change fail rate (reporting.measures.fail_rate_tier).
    (0.0, 0.075, "elite", "#c8e6c9"),
    (0.075, 0.15, "medium", "#fff9c4"),
    (0.15, 0.30, "high", "#ffe0b2"),
    (0.30, 1.0, "low", "#ffcdd2"),
)


def require_plotting() -> None:
    """Bad input (exit 2) naming what to install when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401 -- only whether it is there
    except ImportError:
        raise BadInput(
            f"--html draws its charts with matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None


def write_page(result: ReportResult, path: Path) -> None:
    """Write the page atomically (a reader never sees half a file)."""
    require_plotting()
    page = render_page(result)
    target = path.expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".report-", suffix=".html")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        # A page to share: readable as any new file would be (mkstemp made it owner-only).
        mask = os.umask(0)
        os.umask(mask)
        Path(temporary).chmod(0o666 & ~mask)
        Path(temporary).replace(target)
    except OSError as exc:
        raise TurnoutError(f"cannot write {target}: {exc.strerror or exc}") from exc


def _figure(width: float = 7.5, height: float = 3.0) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure


def _svg(figure: Figure) -> str:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "turnout-report"
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline in HTML: the XML prolog and DOCTYPE are not allowed there, and the RDF
    # metadata block (creator, format) says nothing to a reader.
    text = text[text.index("<svg") :]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if start != -1 and end != -1:
        text = text[:start] + text[end + len("</metadata>") :]
    return text


def _weeks(lines: Sequence[DeploymentLine], zone: ZoneInfo) -> list[datetime]:
    if not lines:
        return []
    first = min(line.created_at for line in lines).astimezone(zone)
    last = max(line.created_at for line in lines).astimezone(zone)
    day = first.date() - timedelta(days=first.weekday())
    weeks = []
    while day <= last.date():
        weeks.append(datetime(day.year, day.month, day.day, tzinfo=zone))
        day += timedelta(days=7)
    return weeks


def _week_of(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    day = local.date() - timedelta(days=local.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#555")
    axes.set_xticks([])
    axes.set_yticks([])


def deployments_chart(report: EnvironmentReport) -> str:
    """Deployments per week, stacked by outcome."""
    zone = ZoneInfo(report.timezone)
    weeks = _weeks(report.deployments, zone)
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title("Deployments per week, by outcome")
    if not weeks:
        _empty(axes, "no deployment in the period")
        return _svg(figure)
    labels = [f"{w:%G-W%V}" for w in weeks]
    bottom = [0] * len(weeks)
    for outcome, colour in OUTCOME_COLOURS.items():
        counts = [
            sum(
                1
                for line in report.deployments
                if line.outcome == outcome and _week_of(line.created_at, zone) == week
            )
            for week in weeks
        ]
        if any(counts):
            axes.bar(labels, counts, bottom=bottom, color=colour, label=outcome)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylabel("deployments")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize="small", loc="upper left", frameon=False)
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    return _svg(figure)


def lead_time_chart(report: EnvironmentReport) -> str:
    """The distribution of change lead times, median and p90 marked."""
    lead = report.totals.dora.change_lead_time
    hours = [line.lead_time_s / 3600 for line in report.deployments if line.lead_time_s]
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title("Change lead time (commit to verified in production)")
    if not hours:
        _empty(axes, lead.note or "no lead time measured in the period")
        return _svg(figure)
    axes.hist(hours, bins=min(max(len(hours), 5), 30), color="#1565c0", alpha=0.8)
    for value, name, style in ((lead.median_s, "median", "-"), (lead.p90_s, "p90", "--")):
        if value is not None:
            axes.axvline(value / 3600, color="#000", linestyle=style, linewidth=1.2)
            axes.annotate(
                f"{name} {value / 3600:.1f} h",
                (value / 3600, 1),
                xycoords=("data", "axes fraction"),
                xytext=(4, -12),
                textcoords="offset points",
                fontsize="small",
            )
    axes.set_xlabel("hours")
    axes.set_ylabel("deployments")
    return _svg(figure)


def fail_rate_chart(report: EnvironmentReport) -> str:
    """Change fail rate per week, over the 2024 tier bands."""
    zone = ZoneInfo(report.timezone)
    weeks = _weeks(report.deployments, zone)
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title("Change fail rate per week (bands: DORA 2024 clusters)")
    if not weeks:
        _empty(axes, "no deployment in the period")
        return _svg(figure)
    for low, high, name, colour in TIER_BANDS:
        axes.axhspan(low * 100, high * 100, color=colour, zorder=0)
        axes.text(
            1.01,
            (low + min(high, 0.5)) / 2 * 100,
            name,
            transform=axes.get_yaxis_transform(),
            fontsize="small",
            va="center",
        )
    xs, ys = [], []
    for week in weeks:
        live = [
            line
            for line in report.deployments
            if line.swapped_at is not None and _week_of(line.swapped_at, zone) == week
        ]
        if live:
            xs.append(f"{week:%G-W%V}")
            ys.append(100 * sum(1 for line in live if line.failure) / len(live))
    axes.plot(xs, ys, marker="o", color="#b71c1c")
    axes.set_ylim(0, max(50, *(y + 5 for y in ys)) if ys else 50)
    axes.set_ylabel("% of deployments")
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    return _svg(figure)


def recovery_chart(report: EnvironmentReport) -> str:
    """Recovery time of each failed deployment."""
    failed = [line for line in report.deployments if line.failure and line.swapped_at]
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title("Failed deployment recovery time")
    if not failed:
        _empty(axes, "no failed deployment in the period")
        return _svg(figure)
    zone = ZoneInfo(report.timezone)
    names = [
        f"#{line.id} {line.version}\n{line.swapped_at.astimezone(zone):%m-%d %H:%M}"
        for line in failed
        if line.swapped_at is not None
    ]
    minutes = [None if line.recovery_s is None else line.recovery_s / 60 for line in failed]
    axes.scatter(
        [n for n, m in zip(names, minutes, strict=True) if m is not None],
        [m for m in minutes if m is not None],
        color="#c62828",
        zorder=3,
    )
    for name, line, value in zip(names, failed, minutes, strict=True):
        label = str(line.failure) if value is not None else f"{line.failure}; not recovered"
        axes.annotate(
            label,
            (name, value or 0),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize="x-small",
        )
    axes.tick_params(axis="x", labelsize="x-small")
    axes.set_ylabel("minutes to a verified version")
    shown = [m for m in minutes if m]
    if shown and max(shown) / min(shown) > 50:
        # From minutes (a swap back) to days (a rollback by hand): only a log scale shows both.
        axes.set_yscale("log")
    else:
        axes.set_ylim(bottom=0)
    return _svg(figure)


def deployment_chart(line: DeploymentLine, max_error_rate: float, max_p95_ms: float) -> str:
    """Error rate and p95 around one deployment's swap, limits, swap and rollback marked."""
    from turnout.text import duration

    figure = _figure(7.5, 3.6)
    error_axes, latency_axes = figure.subplots(2, 1, sharex=True)
    figure.suptitle(f"#{line.id} {line.version}: {line.outcome}", fontsize="medium")
    origin = line.swapped_at
    assert origin is not None
    xs = [(p.at - origin).total_seconds() + p.seconds / 2 for p in line.series]
    error_axes.plot(
        xs,
        [None if p.error_rate is None else p.error_rate * 100 for p in line.series],
        color="#c62828",
        marker=".",
        linewidth=1,
    )
    error_axes.axhline(
        max_error_rate * 100,
        color="#c62828",
        linestyle="--",
        linewidth=1,
        label=f"limit {max_error_rate:.2%}",
    )
    error_axes.set_ylabel("errors %")
    latency_axes.plot(xs, [p.p95_ms for p in line.series], color="#1565c0", marker=".", linewidth=1)
    latency_axes.axhline(
        max_p95_ms, color="#1565c0", linestyle="--", linewidth=1, label=f"limit {max_p95_ms:g} ms"
    )
    latency_axes.set_ylabel("p95 ms")
    latency_axes.set_xlabel("seconds from the swap")
    for axes in (error_axes, latency_axes):
        axes.axvline(0, color="#000", linewidth=1.2, label="swap")
        if line.rolled_back_at is not None:
            back = (line.rolled_back_at - origin).total_seconds()
            last = max(xs, default=0.0)
            if back <= max(2 * last, 600):
                axes.axvline(back, color="#ef6c00", linewidth=1.5, linestyle="-.", label="rollback")
            else:
                # Rolled back long after the verdict: drawn to scale it would squash the
                # series into a line, so the rollback is named at the right edge instead.
                axes.annotate(
                    f"rolled back {duration(back)} after the swap \u2192",
                    (1, 0.5),
                    xycoords="axes fraction",
                    ha="right",
                    fontsize="x-small",
                    color="#ef6c00",
                )
        axes.set_ylim(bottom=0)
        axes.legend(fontsize="x-small", loc="upper left", frameon=False)
    return _svg(figure)


def _figures_table(period: PeriodFigures) -> str:
    from turnout.text import duration

    d = period.dora

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.3g} %"

    def tier(value: object) -> str:
        name = getattr(value, "value", None)
        return f"{name} (DORA 2024)" if name else "—"

    rows = [
        (
            "Deployment frequency",
            "n/a"
            if d.deployment_frequency.per_day is None
            else f"{d.deployment_frequency.per_day:.2f} per day",
            d.deployment_frequency.deployments,
            tier(d.deployment_frequency.tier),
        ),
        (
            "Change lead time",
            f"median {duration(d.change_lead_time.median_s)}, p90"
            f" {duration(d.change_lead_time.p90_s)}",
            d.change_lead_time.sample,
            tier(d.change_lead_time.tier),
        ),
        (
            "Change fail rate",
            pct(d.change_fail_rate.value),
            d.change_fail_rate.sample,
            tier(d.change_fail_rate.tier),
        ),
        (
            "Failed deployment recovery time",
            f"median {duration(d.recovery_time.median_s)}",
            d.recovery_time.sample,
            tier(d.recovery_time.tier),
        ),
        ("Deployment rework rate", pct(d.rework_rate.value), d.rework_rate.sample, "no 2024 tier"),
    ]
    body = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td><td>{s}</td>"
        f"<td>{html.escape(t)}</td></tr>"
        for n, v, s, t in rows
    )
    metrics = []
    for metric in period.success.all():
        shown: Callable[[float | None], str] = (
            (lambda v: "n/a" if v is None else f"{v:.0f} ms")
            if metric.kpi.value == "p95_ms"
            else (lambda v: "n/a" if v is None else f"{v * 100:.4g} %")
        )
        verdict = {True: "met", False: f"missed: {metric.action}", None: "nothing measured"}[
            metric.met
        ]
        css = {True: "met", False: "missed", None: ""}[metric.met]
        metrics.append(
            f"<tr class='{css}'><td>{html.escape(metric.kpi.value.replace('_', ' '))}</td>"
            f"<td>{shown(metric.value)}</td><td>{'>' if metric.above else '<'}"
            f" {shown(metric.target)}</td><td>{metric.sample}</td>"
            f"<td>{html.escape(verdict)}</td></tr>"
        )
    return (
        "<table><tr><th>DORA measure</th><th>value</th><th>sample</th><th>tier</th></tr>"
        f"{body}</table>"
        "<table><tr><th>Runbook metric</th><th>value</th><th>target</th><th>sample</th>"
        f"<th>verdict</th></tr>{''.join(metrics)}</table>"
    )


def _kpi_text(name: str, value: float | None) -> str:
    """A KPI of the trend in its unit: a duration, milliseconds, a count or a percentage."""
    from turnout.text import duration

    if value is None:
        return "n/a"
    if name.endswith("_s"):
        return duration(value)
    if name == "p95_ms":
        return f"{value:.0f} ms"
    if name == "deployments":
        return f"{value:g}"
    return f"{value * 100:.3g} %"


_KPI_NAMES = {
    "change_lead_time_median_s": "lead time (median)",
    "recovery_time_median_s": "recovery (median)",
    "p95_ms": "p95 (worst)",
}


def _trend_table(report: EnvironmentReport) -> str:
    if not report.trend:
        return ""
    names = list(report.trend[0].period.kpis())
    head = "".join(f"<th>{html.escape(_KPI_NAMES.get(n, n.replace('_', ' ')))}</th>" for n in names)
    rows = []
    for row in report.trend:
        kpis = row.period.kpis()
        cells = []
        for name in names:
            value = kpis[name]
            delta = None if row.deltas is None else row.deltas[name]
            text = _kpi_text(name, value)
            if delta:
                sign = "+" if delta > 0 else "-"
                text += f" <small>({sign}{_kpi_text(name, abs(delta))})</small>"
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><td>{html.escape(row.period.label)}</td>{''.join(cells)}</tr>")
    return f"<h3>Trend</h3><table><tr><th>period</th>{head}</tr>{''.join(rows)}</table>"


def render_page(result: ReportResult) -> str:
    """The whole page as text."""
    sections = []
    for report in result.environments:
        limits = report.totals.success
        drawn = [line for line in report.deployments if line.series and line.swapped_at][
            -MAX_DEPLOYMENT_CHARTS:
        ]
        charts = [
            deployments_chart(report),
            lead_time_chart(report),
            fail_rate_chart(report),
            recovery_chart(report),
        ]
        per_deployment = [
            deployment_chart(line, limits.error_rate.target, limits.p95_ms.target) for line in drawn
        ]
        sections.append(
            f"<section><h2>{html.escape(report.environment)}</h2>"
            f"{_figures_table(report.totals)}{_trend_table(report)}"
            + "".join(f"<figure class='chart'>{c}</figure>" for c in charts)
            + "<h3>Around each swap</h3>"
            + (
                "".join(f"<figure class='chart deployment'>{c}</figure>" for c in per_deployment)
                or "<p>No deployment with recorded traffic in the period.</p>"
            )
            + "</section>"
        )
    generated = html.escape(result.generated_at.isoformat(timespec="seconds"))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        # Nothing may come from elsewhere: the policy says so to the browser too.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none';"
        " style-src 'unsafe-inline'; img-src data:\">"
        f"<title>turnout report, last {result.days:g} days</title><style>{_STYLE}</style>"
        f"</head><body><h1>Delivery report, last {result.days:g} days</h1>"
        f"<p>Generated {generated} from turnout's records. Tiers are the 2024 DORA"
        " report's clusters.</p>" + "".join(sections) + "</body></html>"
    )


_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 1em 1em 0; display: inline-table;
  vertical-align: top; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
tr.missed td { background: #ffebee; }
tr.met td { background: #e8f5e9; }
figure.chart { display: inline-block; margin: 0.5em; }
figure.chart svg { width: 520px; height: auto; }
"""
