"""Two-sample sequential test: the canary slot's event rate against production's, second by
second, over the same seconds.

During a canary both versions serve live traffic at the same time, so load, time of day
and the traffic mix affect both alike. Each second t gives the canary `n_c` requests with
`k_c` events (failures, or requests slower than the latency limit) and production `n_p`
with `k_p`. Treat events as Poisson counts with rates `n_c * p_c` and `n_p * p_p`; given
the second's total `k = k_c + k_p`, the canary's share of the events is then
Binomial(k, pi(rho)) with

    pi(rho) = n_c * rho / (n_c * rho + n_p),        rho = p_c / p_p

(the rate ratio; for Bernoulli requests at small rates this is the same to first order).
The production rate itself drops out: nothing about it needs to be known or stable.

- Regressed: H0 "rho <= r0" (the canary at most `r0` = 1 + margin times production's rate)
  against a mixture of alternatives r1, 4 r1, 16 r1, ... (r1 = baseline_factor). For each
  alternative the product over seconds of the binomial likelihood ratios of pi(r_j) to
  pi(r0) is a non-negative supermartingale under H0 (each factor has expectation at most 1
  whenever the true ratio is at most r0), so their equal-weight mixture is one too and, by
  Ville's inequality, reaches 1/alpha with probability at most alpha however often it is
  looked at. At least `min_events` canary events are required as well.
- Healthy: the point likelihood ratio of r0 against r1 reaches 1/beta: a canary at r1 or
  worse passes with probability at most beta.

Seconds in which either side served nothing, or with no event at all, carry no
information and leave every statistic unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from turnout.analysis.sequential import MIXTURE_RATIO, Decision

RATIO_CAP = 1000.0
"""Largest alternative ratio of the mixture (beyond it pi is 1 to within rounding)."""


def share_of_events(canary_requests: int, production_requests: int, ratio: float) -> float:
    """pi(ratio): the probability that an event of a second came from the canary."""
    weighted = canary_requests * ratio
    return weighted / (weighted + production_requests)


def ratio_alternatives(r1: float) -> tuple[float, ...]:
    """Alternatives the mixture spreads its weight over: r1 and geometric steps above it."""
    alternatives = [r1]
    while alternatives[-1] * MIXTURE_RATIO <= RATIO_CAP:
        alternatives.append(alternatives[-1] * MIXTURE_RATIO)
    return tuple(alternatives)


@dataclass(frozen=True)
class TwoSampleTest:
    """Regressed-or-healthy for the ratio of the canary's event rate to production's."""

    r0: float
    """Tolerated ratio: a canary this much worse than production (or better) is healthy."""
    r1: float
    """Rollback ratio: the smallest regression the test is sized for."""
    alpha: float
    beta: float
    min_events: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.r0 < self.r1:
            raise ValueError(f"need 0 < r0 < r1 (got r0={self.r0}, r1={self.r1})")
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError("alpha and beta must lie strictly between 0 and 1")

    @cached_property
    def alternatives(self) -> tuple[float, ...]:
        """The mixture's alternative ratios."""
        return ratio_alternatives(self.r1)

    @property
    def threshold(self) -> float:
        """ln(1/alpha): the regression threshold (Ville's inequality)."""
        return math.log(1 / self.alpha)

    @property
    def healthy_threshold(self) -> float:
        """ln(1/beta): the healthy threshold."""
        return math.log(1 / self.beta)

    def increments(
        self, canary: int, canary_events: int, production: int, production_events: int
    ) -> tuple[list[float], float]:
        """One second's additions: to each alternative's ln LR (against r0), and to the
        healthy ln LR (r0 against r1). Zeros when the second carries no information."""
        if canary_events < 0 or production_events < 0:
            raise ValueError("negative event counts")
        if canary_events > canary or production_events > production:
            raise ValueError("more events than requests")
        none = [0.0] * len(self.alternatives)
        if canary == 0 or production == 0 or canary_events + production_events == 0:
            return none, 0.0
        base = share_of_events(canary, production, self.r0)
        out = []
        for ratio in self.alternatives:
            alt = share_of_events(canary, production, ratio)
            out.append(
                canary_events * math.log(alt / base)
                + production_events * math.log((1 - alt) / (1 - base))
            )
        limit = share_of_events(canary, production, self.r1)
        healthy = canary_events * math.log(base / limit) + production_events * math.log(
            (1 - base) / (1 - limit)
        )
        return out, healthy


@dataclass
class TwoSampleState:
    """Running statistics of one TwoSampleTest; JSON round-trips through to_dict/from_dict."""

    log_lr: list[float] = field(default_factory=list)
    """ln LR of each alternative against r0, summed over the seconds seen."""
    healthy_log_lr: float = 0.0
    canary_requests: int = 0
    canary_events: int = 0
    production_requests: int = 0
    production_events: int = 0
    seconds: int = 0
    """Seconds in which both sides served requests."""

    def add(
        self,
        test: TwoSampleTest,
        canary: int,
        canary_events: int,
        production: int,
        production_events: int,
    ) -> None:
        """Fold one second of both sides in."""
        steps, healthy = test.increments(canary, canary_events, production, production_events)
        if not self.log_lr:
            self.log_lr = [0.0] * len(steps)
        self.log_lr = [a + b for a, b in zip(self.log_lr, steps, strict=True)]
        self.healthy_log_lr += healthy
        if canary and production:
            self.seconds += 1
            self.canary_requests += canary
            self.canary_events += canary_events
            self.production_requests += production
            self.production_events += production_events

    def statistic(self) -> float:
        """ln of the equal-weight mixture of the alternatives' likelihood ratios."""
        if not self.log_lr:
            return 0.0
        top = max(self.log_lr)
        return top + math.log(sum(math.exp(t - top) for t in self.log_lr) / len(self.log_lr))

    def decision(self, test: TwoSampleTest) -> Decision:
        """Regressed, healthy, or not yet."""
        if self.canary_events >= test.min_events and self.statistic() >= test.threshold:
            return Decision.REGRESSED
        if self.healthy_log_lr >= test.healthy_threshold:
            return Decision.HEALTHY
        return Decision.CONTINUE

    def evidence(self, test: TwoSampleTest) -> dict[str, Any]:
        """Counts, rates, the statistics and their thresholds, JSON-ready."""
        c_rate = self.canary_events / self.canary_requests if self.canary_requests else None
        p_rate = (
            self.production_events / self.production_requests if self.production_requests else None
        )
        return {
            "decision": self.decision(test).value,
            "canary_requests": self.canary_requests,
            "canary_events": self.canary_events,
            "canary_rate": c_rate,
            "production_requests": self.production_requests,
            "production_events": self.production_events,
            "production_rate": p_rate,
            "rate_ratio": (c_rate / p_rate) if c_rate is not None and p_rate else None,
            "seconds": self.seconds,
            "statistic": round(self.statistic(), 4),
            "threshold": round(test.threshold, 4),
            "healthy_statistic": round(self.healthy_log_lr, 4),
            "healthy_threshold": round(test.healthy_threshold, 4),
            "tolerated_ratio": test.r0,
            "rollback_ratio": test.r1,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "log_lr": list(self.log_lr),
            "healthy_log_lr": self.healthy_log_lr,
            "canary_requests": self.canary_requests,
            "canary_events": self.canary_events,
            "production_requests": self.production_requests,
            "production_events": self.production_events,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TwoSampleState:
        """Inverse of to_dict."""
        return cls(
            log_lr=[float(v) for v in data.get("log_lr", [])],
            healthy_log_lr=float(data.get("healthy_log_lr", 0.0)),
            canary_requests=int(data.get("canary_requests", 0)),
            canary_events=int(data.get("canary_events", 0)),
            production_requests=int(data.get("production_requests", 0)),
            production_events=int(data.get("production_events", 0)),
            seconds=int(data.get("seconds", 0)),
        )
