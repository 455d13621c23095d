"""The verdict on live traffic: absolute and relative limits, decided sequentially.

Two rates are tested per request, each with its own sequential test:

- errors: the request failed (5xx or no answer);
- slow: the request took longer than the latency limit.

For each, the rollback limit `p1` and the tolerated rate `p0` come from the
runbook's absolute limit L and the baseline b of the live version (when it
saw enough traffic), with factor f (baseline_factor) and margin m:

    p1 = max(L, f * b)          roll back at the absolute limit, or at f x the
                                baseline when the live version is already near it
    p0 = max(L / f, (1 + m) * b)  a release this good is healthy

For latency, L is the share of requests allowed above the latency limit
(1 - 0.95 for a p95), and the latency limit itself is max(max_p95_ms,
f * baseline p95), rounded up to the histogram's next bucket bound. A release
that meets the absolute limits is never rolled back for the baseline's sake,
and a release is never rolled back for being as bad as the version it replaced.
alpha and beta are split evenly between the two rates (a union bound), so
the whole verdict keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from turnout.analysis.baseline import Baseline
from turnout.analysis.sequential import Decision, RateResult, RateTest, Window
from turnout.config.analysis import AnalysisConfig
from turnout.model import Verdict, VerdictKind
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, count_over, quantile_ms

MAX_RATE = 0.99
METRICS = ("errors", "latency")


@dataclass(frozen=True)
class MetricLimits:
    """The tolerated and rollback rates of one metric and how they were derived."""

    metric: str
    p0: float
    p1: float
    basis: str
    latency_ms: float | None = None
    """For latency: a request slower than this counts as an event."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "tolerated_rate": self.p0,
            "rollback_rate": self.p1,
            "basis": self.basis,
        }
        if self.latency_ms is not None:
            out["latency_limit_ms"] = self.latency_ms
        return out


def latency_bound_at_or_above(limit_ms: float) -> float:
    """The histogram's smallest finite bound >= limit_ms (so slow counts are exact)."""
    for bound in LATENCY_BOUNDS_MS[:-1]:
        if bound >= limit_ms:
            return float(bound)
    return float(LATENCY_BOUNDS_MS[-2])


def _pair(limit: float, base: float | None, config: AnalysisConfig) -> tuple[float, float]:
    factor, margin = config.baseline_factor, config.margin
    p1 = limit if base is None else max(limit, factor * base)
    p0 = limit / factor if base is None else max(limit / factor, (1 + margin) * base)
    p1 = min(p1, MAX_RATE)
    if p0 >= p1:  # only when p1 was capped (a baseline failing almost every request)
        p0 = p1 / factor
    return p0, p1


def derive_limits(
    config: AnalysisConfig, baseline: Baseline | None
) -> tuple[MetricLimits, MetricLimits]:
    """Limits for errors and for slow requests."""
    trusted = baseline is not None and baseline.trusted(config.baseline_min_requests)
    base = baseline if trusted else None

    b_err = base.error_rate if base is not None else None
    p0, p1 = _pair(config.max_error_rate, b_err, config)
    basis = (
        f"absolute limit {config.max_error_rate:.4%}"
        if b_err is None
        else f"max(limit {config.max_error_rate:.4%},"
        f" {config.baseline_factor:g} x baseline {b_err:.4%})"
    )
    errors = MetricLimits("errors", p0, p1, basis)

    tail = 1 - config.latency_quantile
    b_q = base.quantile_ms(config.latency_quantile) if base is not None else None
    limit_ms = config.max_p95_ms
    if b_q is not None:
        limit_ms = max(limit_ms, config.baseline_factor * b_q)
    limit_ms = latency_bound_at_or_above(limit_ms)
    b_slow = base.share_over(limit_ms) if base is not None else None
    p0, p1 = _pair(tail, b_slow, config)
    q_name = f"p{round(config.latency_quantile * 100):d}"
    basis = (
        f"{q_name} < {limit_ms:g} ms: at most {tail:.1%} of requests slower"
        if b_q is None
        else f"{q_name} < max({config.max_p95_ms:g} ms, {config.baseline_factor:g} x baseline"
        f" {q_name} {b_q:.0f} ms) = {limit_ms:g} ms"
    )
    latency = MetricLimits("latency", p0, p1, basis, limit_ms)
    return errors, latency


def requests_for_healthy(test: RateTest, rate: float) -> int:
    """Requests after which the healthy test passes when events come at `rate`: each
    request adds ln((1-p0)/(1-p1)) to the evidence and each event ln(p0/p1) on top;
    at or above p1 (or p0: no margin) it never passes (a large number)."""
    per_request = math.log((1 - test.p0) / (1 - test.p1))
    per_event = math.log(test.p0 / test.p1) - per_request
    gain = per_request + rate * per_event
    if gain <= 0:
        return NEVER
    return math.ceil(test.healthy_threshold / gain)


NEVER = 10**12
"""requests_for_healthy when a rate can never be proven healthy."""


class Judge:
    """Turns the totals observed since the swap into a Verdict with its evidence."""

    def __init__(self, config: AnalysisConfig, baseline: Baseline | None = None) -> None:
        self.config = config
        self.baseline = baseline
        self.limits = derive_limits(config, baseline)
        share = len(METRICS)
        self.tests = {
            lim.metric: RateTest(
                lim.p0, lim.p1, config.alpha / share, config.beta / share, config.min_events
            )
            for lim in self.limits
        }

    def requests_needed(self, error_rate: float = 0.0, slow_rate: float = 0.0) -> int:
        """Requests the healthy verdict needs when errors and slow requests come at these
        rates (0: a flawless release, the fewest); the largest over the metrics."""
        rates = {"errors": error_rate, "latency": slow_rate}
        return max(
            requests_for_healthy(self.tests[lim.metric], rates[lim.metric]) for lim in self.limits
        )

    @property
    def latency_limit_ms(self) -> float:
        """Requests slower than this count as slow."""
        value = self.limits[1].latency_ms
        assert value is not None
        return value

    def events(self, observed: SecondBucket) -> dict[str, int]:
        """Event counts per metric in the observed totals."""
        return {
            "errors": observed.errors,
            "latency": count_over(observed.latency, self.latency_limit_ms),
        }

    def evaluate(
        self,
        observed: SecondBucket,
        later: Sequence[tuple[float, SecondBucket]] = (),
        first: float = 1.0,
    ) -> dict[str, RateResult]:
        """Each metric's sequential test on the totals since the swap, and on the traffic
        since later start points (weight, totals since that point)."""
        events = self.events(observed)
        windows = [(weight, self.events(since), since.count) for weight, since in later]
        return {
            m: self.tests[m].evaluate(
                observed.count,
                events[m],
                [Window(weight, count, ev[m]) for weight, ev, count in windows],
                first,
            )
            for m in METRICS
        }

    def judge(
        self,
        observed: SecondBucket,
        *,
        elapsed: float,
        min_observation: float | None = None,
        later: Sequence[tuple[float, SecondBucket]] = (),
        first: float = 1.0,
    ) -> Verdict:
        """Fail as soon as a metric regressed; pass when every metric is healthy and at
        least min_observation seconds were seen; otherwise inconclusive."""
        minimum = self.config.min_observation if min_observation is None else min_observation
        results = self.evaluate(observed, later, first)
        evidence = self.evidence(observed, results, elapsed)
        regressed = [m for m in METRICS if results[m].decision is Decision.REGRESSED]
        if regressed:
            reasons = [self._regressed_reason(m, results[m], observed) for m in regressed]
            return Verdict(VerdictKind.FAIL, "regressed: " + "; ".join(reasons), reasons, evidence)
        healthy = all(results[m].decision is Decision.HEALTHY for m in METRICS)
        if healthy and elapsed >= minimum:
            summary = (
                f"healthy: {observed.count} requests{_probe_note(observed)}, error rate"
                f" {_pct(observed.errors, observed.count)}, {self._q_name()}"
                f" {_ms(quantile_ms(observed.latency, self.config.latency_quantile))}"
            )
            return Verdict(VerdictKind.PASS, summary, [summary], evidence)
        reasons = []
        for m in METRICS:
            if results[m].decision is Decision.CONTINUE:
                reasons.append(self._pending_reason(m, results[m]))
        if healthy:
            reasons.append(f"observed {elapsed:.1f} s of the minimum {minimum:g} s")
        summary = (
            f"inconclusive after {observed.count} requests{_probe_note(observed)}"
            f" in {elapsed:.1f} s"
        )
        return Verdict(VerdictKind.INCONCLUSIVE, summary, reasons, evidence)

    # -- explanations -----------------------------------------------------------------
    def _q_name(self) -> str:
        return f"p{round(self.config.latency_quantile * 100):d}"

    def _regressed_reason(self, metric: str, result: RateResult, observed: SecondBucket) -> str:
        limits = self.limits[METRICS.index(metric)]
        share = _pct(result.events, result.requests)
        if metric == "errors":
            return (
                f"error rate {share} ({result.events} of {result.requests}) is above the"
                f" limit {limits.p1:.3%} (evidence {result.regressed_statistic:.2f}"
                f" >= {result.regressed_threshold:.2f})"
            )
        q = quantile_ms(observed.latency, self.config.latency_quantile)
        return (
            f"{share} of requests ({result.events} of {result.requests}) slower than"
            f" {limits.latency_ms:g} ms, allowed {limits.p1:.1%}; {self._q_name()} {_ms(q)}"
            f" (evidence {result.regressed_statistic:.2f} >= {result.regressed_threshold:.2f})"
        )

    def _pending_reason(self, metric: str, result: RateResult) -> str:
        what = "errors" if metric == "errors" else "slow requests"
        return (
            f"{what}: {result.events} of {result.requests}; not yet enough traffic to tell"
            f" (healthy evidence {result.healthy_statistic:.2f} of"
            f" {result.healthy_threshold:.2f} needed)"
        )

    def evidence(
        self, observed: SecondBucket, results: dict[str, RateResult], elapsed: float
    ) -> dict[str, Any]:
        """Counts, rates, quantiles, thresholds and test statistics, JSON-ready."""
        c = self.config
        q = c.latency_quantile
        tests = {}
        for limits in self.limits:
            entry = results[limits.metric].to_dict()
            entry.update(limits.to_dict())
            tests[limits.metric] = entry
        return {
            "requests": observed.count,
            "probe_requests": observed.probes,
            "live_requests": observed.count - observed.probes,
            "errors": observed.errors,
            "error_rate": observed.errors / observed.count if observed.count else None,
            "slow": results["latency"].events,
            "slow_rate": results["latency"].events / observed.count if observed.count else None,
            "p50_ms": _round(quantile_ms(observed.latency, 0.5)),
            "p95_ms": _round(quantile_ms(observed.latency, 0.95)),
            "p99_ms": _round(quantile_ms(observed.latency, 0.99)),
            f"{self._q_name()}_ms": _round(quantile_ms(observed.latency, q)),
            "observed_seconds": round(elapsed, 3),
            "throughput_rps": round(observed.count / elapsed, 3) if elapsed > 0 else None,
            "thresholds": {
                "max_error_rate": c.max_error_rate,
                "max_p95_ms": c.max_p95_ms,
                "latency_quantile": q,
                "baseline_factor": c.baseline_factor,
                "margin": c.margin,
                "alpha": c.alpha,
                "beta": c.beta,
                "min_events": c.min_events,
            },
            "baseline": None if self.baseline is None else _baseline_summary(self.baseline),
            "baseline_trusted": self.baseline is not None
            and self.baseline.trusted(c.baseline_min_requests),
            "tests": tests,
        }


def _baseline_summary(baseline: Baseline) -> dict[str, Any]:
    data = baseline.to_dict()
    data.pop("latency", None)
    return data


def _probe_note(observed: SecondBucket) -> str:
    return f" ({observed.probes} of them probes)" if observed.probes else ""


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "n/a"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


HEADLINE_KEYS = (
    "requests",
    "probe_requests",
    "errors",
    "error_rate",
    "slow",
    "slow_rate",
    "p95_ms",
    "throughput_rps",
    "crossed_after_swap_s",
    "crossed_at_iso",
)


def headline(verdict: Verdict) -> dict[str, Any]:
    """The figures people need first (notifications, one-line errors): reasons, counts,
    rates, p95, the decisive test's statistic and threshold, and when it crossed."""
    ev = verdict.evidence
    out: dict[str, Any] = {"reasons": list(verdict.reasons)}
    out.update({k: ev[k] for k in HEADLINE_KEYS if ev.get(k) is not None})
    tests = ev.get("tests", {})
    for metric, test in tests.items() if isinstance(tests, dict) else ():
        if isinstance(test, dict) and test.get("decision") == Decision.REGRESSED.value:
            out[f"{metric}_statistic"] = test.get("statistic")
            out[f"{metric}_threshold"] = test.get("threshold")
            out[f"{metric}_rollback_rate"] = test.get("rollback_rate")
    return out
