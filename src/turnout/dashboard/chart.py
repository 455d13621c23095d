"""The evidence chart as inline SVG, drawn here (no plotting library, no script): error rate
and p95 over time against their limits and the baseline, each sequential test's statistics
against their thresholds, and the requests judged, live and probes apart; the swap and the
decision are marked on every panel. Seconds on the x axis count from the swap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from turnout.dashboard.evidence import Evidence

WIDTH = 760
PANEL_HEIGHT = 150
LEFT, RIGHT, TOP, GAP = 64, 150, 22, 34
KIND_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#f9a825"}


@dataclass
class Panel:
    """One panel: its title, y range and the SVG elements drawn in it."""

    title: str
    top: float
    low: float
    high: float
    x_low: float
    x_high: float
    unit: Callable[[float], str]
    parts: list[str] = field(default_factory=list)

    def x(self, value: float) -> float:
        span = self.x_high - self.x_low or 1.0
        return LEFT + (value - self.x_low) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        clipped = min(max(value, self.low), self.high)
        return self.top + PANEL_HEIGHT - (clipped - self.low) / span * PANEL_HEIGHT

    def line(self, points: Sequence[tuple[float, float]], colour: str, css: str) -> None:
        if not points:
            return
        path = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in points)
        self.parts.append(
            f'<polyline class="{css}" points="{path}" fill="none" stroke="{colour}"'
            ' stroke-width="1.6"/>'
        )

    def level(self, value: float, colour: str, css: str, label: str, dash: str = "6 4") -> None:
        y = self.y(value)
        self.parts.append(
            f'<line class="{css}" data-value="{value:g}" x1="{LEFT}" x2="{WIDTH - RIGHT}"'
            f' y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-dasharray="{dash}"/>'
            f'<text x="{WIDTH - RIGHT + 4}" y="{y + 4:.1f}" fill="{colour}">'
            f"{escape(label)}</text>"
        )

    def moment(self, at: float, colour: str, css: str, label: str, below: bool = False) -> None:
        x = self.x(at)
        y = self.top + (PANEL_HEIGHT - 4 if below else 10)
        anchor = "end" if below else "start"
        self.parts.append(
            f'<line class="{css}" x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}"'
            f' y2="{self.top + PANEL_HEIGHT}" stroke="{colour}" stroke-width="1.2"/>'
            f'<text x="{x + (-3 if below else 3):.1f}" y="{y}" fill="{colour}"'
            f' text-anchor="{anchor}">{escape(label)}</text>'
        )

    def dot(self, at: float, value: float, colour: str, css: str, tip: str) -> None:
        self.parts.append(
            f'<circle class="{css}" cx="{self.x(at):.1f}" cy="{self.y(value):.1f}" r="3.2"'
            f' fill="{colour}"><title>{escape(tip)}</title></circle>'
        )

    def svg(self) -> str:
        bottom = self.top + PANEL_HEIGHT
        frame = (
            f'<text class="panel-title" x="{LEFT}" y="{self.top - 7}">{escape(self.title)}</text>'
            f'<rect x="{LEFT}" y="{self.top}" width="{WIDTH - LEFT - RIGHT}"'
            f' height="{PANEL_HEIGHT}" fill="#fafafa" stroke="#ccc"/>'
            f'<text x="{LEFT - 4}" y="{self.top + 9}" text-anchor="end">'
            f"{escape(self.unit(self.high))}</text>"
            f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end">'
            f"{escape(self.unit(self.low))}</text>"
            f'<text x="{LEFT}" y="{bottom + 13}">{self.x_low:+.0f} s</text>'
            f'<text x="{WIDTH - RIGHT}" y="{bottom + 13}" text-anchor="end">'
            f"{self.x_high:+.0f} s</text>"
        )
        return frame + "".join(self.parts)


def _pct(value: float) -> str:
    return f"{value * 100:.3g} %"


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def _plain(value: float) -> str:
    return f"{value:.3g}"


def _marks(panel: Panel, evidence: Evidence, zero: float) -> None:
    if evidence.swapped_at is not None:
        panel.moment(evidence.swapped_at - zero, "#222", "swap", "swap")
    if evidence.swapped_back_at is not None and evidence.swapped_back_at - zero <= panel.x_high:
        panel.moment(evidence.swapped_back_at - zero, "#c62828", "swap-back", "swapped back")
    if evidence.decided_at is not None:
        colour = KIND_COLOURS.get(evidence.decision or "", "#555")
        panel.moment(
            evidence.decided_at - zero, colour, "decision", evidence.decision or "", below=True
        )


def draw(evidence: Evidence) -> str:
    """The whole chart, one `<svg>` element (empty text when nothing was measured)."""
    if evidence.empty:
        return ""
    zero = evidence.swapped_at or min(
        [p.at for p in evidence.traffic] + [look.at for look in evidence.looks]
    )
    times = [p.at - zero for p in evidence.traffic] + [
        p.at + p.seconds - zero for p in evidence.traffic
    ]
    times += [look.at - zero for look in evidence.looks]
    x_low, x_high = min([*times, 0.0]), max([*times, 1.0])
    back = evidence.swapped_back_at
    if back is not None and back - zero <= x_high + 60:
        # A swap back soon after is drawn; one days later would squash the rest to a line.
        x_high = max(x_high, back - zero + 0.5)
    limits = evidence.limits
    panels = []

    rates = [p.error_rate for p in evidence.traffic if p.error_rate is not None]
    rates += [look.error_rate for look in evidence.looks if look.error_rate is not None]
    levels = [limits.max_error_rate, limits.relative_error_rate or 0.0]
    top = TOP
    errors = Panel("error rate", top, 0.0, max(rates + levels) * 1.15, x_low, x_high, _pct)
    panels.append(errors)

    latencies = [p.p95_ms for p in evidence.traffic if p.p95_ms is not None]
    latencies += [look.p95_ms for look in evidence.looks if look.p95_ms is not None]
    top += PANEL_HEIGHT + GAP
    latency = Panel(
        "p95 latency",
        top,
        0.0,
        max([*latencies, limits.max_p95_ms, limits.relative_p95_ms or 0.0]) * 1.15,
        x_low,
        x_high,
        _ms,
    )
    panels.append(latency)

    for panel, per_interval, per_look, limit, relative, baseline, shown in (
        (
            errors,
            [(p.at - zero, p.error_rate) for p in evidence.traffic if p.error_rate is not None],
            [(look, look.error_rate) for look in evidence.looks if look.error_rate is not None],
            limits.max_error_rate,
            limits.relative_error_rate,
            limits.baseline_error_rate,
            _pct,
        ),
        (
            latency,
            [(p.at - zero, p.p95_ms) for p in evidence.traffic if p.p95_ms is not None],
            [(look, look.p95_ms) for look in evidence.looks if look.p95_ms is not None],
            limits.max_p95_ms,
            limits.relative_p95_ms,
            limits.baseline_p95_ms,
            _ms,
        ),
    ):
        panel.level(limit, "#c62828", "limit", f"limit {shown(limit)}")
        if relative is not None:
            panel.level(relative, "#ef6c00", "limit relative", f"{limits.baseline_factor:g}x base")
        if baseline is not None:
            panel.level(baseline, "#757575", "baseline", f"baseline {shown(baseline)}", "2 3")
        panel.line(per_interval, "#90a4ae", "production")
        panel.line([(look.at - zero, v) for look, v in per_look], "#1565c0", "judged")
        for look, value in per_look:
            tip = f"{look.seconds_after_swap:.1f} s after the swap: {shown(value)}, {look.kind}"
            panel.dot(look.at - zero, value, KIND_COLOURS.get(look.kind, "#555"), "look", tip)

    looks = [look for look in evidence.looks if look.tests]
    if looks:
        top += PANEL_HEIGHT + GAP
        values = [
            v
            for look in looks
            for test in look.tests.values()
            for v in (
                test.statistic,
                test.threshold,
                test.healthy_statistic,
                test.healthy_threshold,
            )
        ]
        tests = Panel(
            "sequential tests (log likelihood ratios)",
            top,
            min([*values, 0.0]) * 1.1,
            max(values) * 1.15,
            x_low,
            x_high,
            _plain,
        )
        thresholds: set[float] = set()
        for name, colour in (("errors", "#c62828"), ("latency", "#6a1b9a")):
            found = [(look.at - zero, look.tests[name]) for look in looks if name in look.tests]
            if not found:
                continue
            tests.line([(at, t.statistic) for at, t in found], colour, f"statistic {name}")
            tests.line([(at, t.healthy_statistic) for at, t in found], "#2e7d32", f"healthy {name}")
            thresholds.update({found[-1][1].threshold, found[-1][1].healthy_threshold})
        for threshold in sorted(thresholds):
            tests.level(threshold, "#424242", "threshold", f"decides at {threshold:.2f}")
        panels.append(tests)

        top += PANEL_HEIGHT + GAP
        most = max(look.requests for look in evidence.looks) or 1
        judged = Panel("requests judged", top, 0.0, most * 1.1, x_low, x_high, _plain)
        judged.line(
            [(look.at - zero, float(look.live_requests)) for look in evidence.looks],
            "#1565c0",
            "live",
        )
        judged.line(
            [(look.at - zero, float(look.probe_requests)) for look in evidence.looks],
            "#ef6c00",
            "probes",
        )
        judged.level(float(most), "#1565c0", "total", f"{most} in all", "1 0")
        panels.append(judged)

    for panel in panels:
        _marks(panel, evidence, zero)
    height = top + PANEL_HEIGHT + 24
    lines = (
        "grey: production per interval; blue: what the analysis judged at each look (dots:",
        "green pass, red fail, amber inconclusive); red dashed: absolute limit; orange dashed:",
        "baseline x factor; tests: red/purple regression evidence, green healthy evidence;",
        "requests: blue live, orange probes",
    )
    height += 14 * len(lines)
    legend = "".join(
        f'<text x="{LEFT}" y="{height - 14 * (len(lines) - n) + 10}" class="legend">'
        f"{escape(line)}</text>"
        for n, line in enumerate(lines)
    )
    return (
        f'<svg class="evidence" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH}'
        f' {height}" width="{WIDTH}" height="{height}" role="img"'
        ' aria-label="verification evidence">'
        + "".join(panel.svg() for panel in panels)
        + legend
        + "</svg>"
    )
