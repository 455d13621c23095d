"""The canary's verdict: the canary slot judged side by side with production, second by second.

Two judgements run on the same folded seconds, and either one's regression fails the
canary:

- side by side (`twosample`): for errors and for slow requests, the canary's rate
  against production's in the same seconds; time of day, load and the traffic mix move
  both alike, so a drift that would fool a before/after comparison does not;
- the absolute limits (`Judge`, as `verify` uses it): the canary's own totals against the
  runbook's limits and the pre-deployment baseline, so a canary that is merely as bad as a
  production that broke the limits meanwhile is still not promoted.

alpha is split evenly between the two judgements (and, inside each, between the two
metrics): the canary as a whole keeps the false-rollback bound alpha however often it
looks. The state (totals, the two-sample statistics, how far the seconds are folded) is a
JSON record, so a resumed canary carries on with the same test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import METRICS, Judge
from turnout.analysis.provider import MetricsProvider, by_version
from turnout.analysis.sequential import Decision
from turnout.analysis.twosample import TwoSampleState, TwoSampleTest
from turnout.config.analysis import AnalysisConfig
from turnout.model import Verdict, VerdictKind
from turnout.traffic import SecondBucket, count_over, merge

SIDE_BY_SIDE_SHARE = 0.5
"""Share of alpha (and beta) the side-by-side tests get; the absolute limits get the rest."""


@dataclass
class CanaryState:
    """What the canary's analysis has folded in so far; JSON round-trips."""

    start: float
    """Judged traffic starts here (unix time: when the first share was applied)."""
    folded_until: float
    canary: SecondBucket = field(default_factory=lambda: SecondBucket(second=0))
    """Totals of the canary slot's requests (the new version)."""
    production: SecondBucket = field(default_factory=lambda: SecondBucket(second=0))
    """Totals of production's requests in the same seconds."""
    side_by_side: dict[str, TwoSampleState] = field(default_factory=dict)

    @classmethod
    def begin(cls, start: float) -> CanaryState:
        """A fresh state from `start` on (the whole second it falls in)."""
        second = float(math.floor(start))
        return cls(start=second, folded_until=second)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "start": self.start,
            "folded_until": self.folded_until,
            "canary": self.canary.to_dict(),
            "production": self.production.to_dict(),
            "side_by_side": {m: s.to_dict() for m, s in self.side_by_side.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanaryState:
        """Inverse of to_dict."""
        return cls(
            start=float(data["start"]),
            folded_until=float(data["folded_until"]),
            canary=SecondBucket.from_dict(data["canary"]),
            production=SecondBucket.from_dict(data["production"]),
            side_by_side={
                str(m): TwoSampleState.from_dict(s)
                for m, s in dict(data.get("side_by_side") or {}).items()
            },
        )


class CanaryJudge:
    """Turns the side-by-side counts into a Verdict with its evidence."""

    def __init__(self, config: AnalysisConfig, baseline: Baseline | None = None) -> None:
        self.config = config
        share = SIDE_BY_SIDE_SHARE
        self.absolute = Judge(
            config.model_copy(
                update={"alpha": config.alpha * (1 - share), "beta": config.beta * (1 - share)}
            ),
            baseline,
        )
        per_metric = len(METRICS)
        self.tests = {
            metric: TwoSampleTest(
                1 + config.margin,
                config.baseline_factor,
                config.alpha * share / per_metric,
                config.beta * share / per_metric,
                config.min_events,
            )
            for metric in METRICS
        }

    def events(self, bucket: SecondBucket) -> dict[str, int]:
        """Event counts per metric (errors; requests slower than the latency limit)."""
        return {
            "errors": bucket.errors,
            "latency": count_over(bucket.latency, self.absolute.latency_limit_ms),
        }

    def fold(self, state: CanaryState, canary: SecondBucket, production: SecondBucket) -> None:
        """Fold one second of both sides into the state."""
        c_events, p_events = self.events(canary), self.events(production)
        for metric, test in self.tests.items():
            running = state.side_by_side.setdefault(metric, TwoSampleState())
            running.add(test, canary.count, c_events[metric], production.count, p_events[metric])
        state.canary = merge([state.canary, canary])
        state.canary.second = 0
        state.production = merge([state.production, production])
        state.production.second = 0

    def judge(self, state: CanaryState, *, elapsed: float) -> Verdict:
        """Fail when either judgement says regressed; pass when the absolute limits say
        healthy and neither side-by-side test regressed; otherwise inconclusive."""
        absolute = self.absolute.judge(state.canary, elapsed=elapsed)
        pairs = {m: state.side_by_side.get(m, TwoSampleState()) for m in METRICS}
        side = {m: pairs[m].evidence(self.tests[m]) for m in METRICS}
        evidence = {
            **absolute.evidence,
            "side_by_side": side,
            "production": {
                "requests": state.production.count,
                "errors": state.production.errors,
                "error_rate": _rate(state.production.errors, state.production.count),
            },
            "blast_radius": blast_radius(state.canary),
        }
        regressed = [m for m in METRICS if pairs[m].decision(self.tests[m]) is Decision.REGRESSED]
        reasons = [self._side_reason(m, side[m]) for m in regressed]
        if absolute.kind is VerdictKind.FAIL:
            reasons = [*absolute.reasons, *reasons]
        if reasons:
            return Verdict(VerdictKind.FAIL, "regressed: " + "; ".join(reasons), reasons, evidence)
        if absolute.kind is VerdictKind.PASS:
            return Verdict(VerdictKind.PASS, absolute.summary, absolute.reasons, evidence)
        return Verdict(VerdictKind.INCONCLUSIVE, absolute.summary, absolute.reasons, evidence)

    def _side_reason(self, metric: str, side: dict[str, Any]) -> str:
        what = "error rate" if metric == "errors" else "share of slow requests"
        canary, production = side["canary_rate"], side["production_rate"]
        return (
            f"canary {what} {_pct_or(canary)} ({side['canary_events']} of"
            f" {side['canary_requests']}) against production's {_pct_or(production)}"
            f" ({side['production_events']} of {side['production_requests']}) in the same"
            f" seconds (evidence {side['statistic']:.2f} >= {side['threshold']:.2f})"
        )


def blast_radius(canary: SecondBucket) -> dict[str, int]:
    """How many user requests the new version served, and failed, so far (probes apart)."""
    probes = canary.probes
    return {
        "served": canary.count - probes,
        "failed": canary.errors,
        "probes": probes,
    }


class SideBySide:
    """Reads both slots from a metrics provider and folds the seconds that are final."""

    def __init__(
        self,
        provider: MetricsProvider,
        judge: CanaryJudge,
        *,
        canary_slot: str,
        canary_version: str,
        production_slot: str,
        production_version: str | None,
    ) -> None:
        self.provider = provider
        self.judge = judge
        self.canary_slot = canary_slot
        self.canary_version = canary_version
        self.production_slot = production_slot
        self.production_version = production_version

    def _fetch(self, slot: str, version: str | None, since: float, until: float) -> list[Any]:
        provider = self.provider
        if version is not None and by_version(provider):
            return list(provider.version_buckets(slot, version, since, until))  # type: ignore[attr-defined]  # by_version() checked it is a VersionedProvider
        return provider.buckets(slot, since, until)

    def fold(self, state: CanaryState, now: float) -> None:
        """Fold every second that is final by now (both sides, the same seconds)."""
        step, settle = self.provider.step, self.provider.settle
        cut = math.floor((now - settle) / step) * step
        if cut <= state.folded_until:
            return
        canary = self._by_second(self.canary_slot, self.canary_version, state, cut)
        production = self._by_second(self.production_slot, self.production_version, state, cut)
        for second in sorted(set(canary) | set(production)):
            empty = SecondBucket(second=second)
            self.judge.fold(state, canary.get(second, empty), production.get(second, empty))
        state.folded_until = cut

    def _by_second(
        self, slot: str, version: str | None, state: CanaryState, cut: float
    ) -> dict[int, SecondBucket]:
        fetched = self._fetch(slot, version, state.folded_until, cut)
        step = self.provider.step
        return {
            b.second: b
            for b in fetched
            if b.second >= state.folded_until and b.second + step <= cut + 1e-9
        }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct_or(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
