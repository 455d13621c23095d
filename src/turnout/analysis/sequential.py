"""Sequential tests for a Bernoulli rate: each request fails (or is slow) or not.

Every statistic here is a likelihood ratio computed from the totals `n`
(requests) and `k` (events), so it can be re-evaluated at any moment from
counters alone. Under the null hypothesis each ratio is a non-negative
supermartingale starting at 1, and by Ville's inequality the probability that
it *ever* reaches 1/alpha is at most alpha: the error bounds hold however
often the totals are looked at (anytime-valid), which is what makes
continuous monitoring safe.

- `WaldSPRT`: Wald's test of p0 against one alternative p1.
- `MixtureSPRT`: the ratio mixed over several alternatives above p1 (a
  discrete mixture, "mSPRT"): a regression of unknown size is caught nearly
  as fast as if its size had been known.
- `RateTest`: what the judge runs per metric: the mixture for "regressed"
  (rate above p0) and a point test for "healthy" (rate below p1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

# Alternatives of the mixture: p1, p1*4, p1*16, ... below this cap.
MIXTURE_RATIO = 4.0
MIXTURE_CAP = 0.9


def log_likelihood_ratio(n: int, k: int, p_null: float, p_alt: float) -> float:
    """ln of P(k events in n | p_alt) / P(k events in n | p_null) for i.i.d. Bernoulli trials."""
    if not 0 < p_null < 1 or not 0 < p_alt < 1:
        raise ValueError("rates must lie strictly between 0 and 1")
    if k < 0 or n < k:
        raise ValueError(f"impossible counts: {k} events in {n} trials")
    return k * math.log(p_alt / p_null) + (n - k) * math.log((1 - p_alt) / (1 - p_null))


class Decision(StrEnum):
    """What a sequential test says so far."""

    REGRESSED = "regressed"
    HEALTHY = "healthy"
    CONTINUE = "continue"


@dataclass(frozen=True)
class WaldSPRT:
    """Wald's SPRT of H0: p = p0 against H1: p = p1 (p1 > p0), with error rates alpha, beta.

    Decides "regressed" when ln LR reaches ln((1-beta)/alpha), "healthy" when it falls
    to ln(beta/(1-alpha)); the fewest requests on average for these error rates.
    """

    p0: float
    p1: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not 0 < self.p0 < self.p1 < 1:
            raise ValueError(f"need 0 < p0 < p1 < 1 (got p0={self.p0}, p1={self.p1})")

    @property
    def upper(self) -> float:
        """Threshold on ln LR for "regressed"."""
        return math.log((1 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """Threshold on ln LR for "healthy"."""
        return math.log(self.beta / (1 - self.alpha))

    def statistic(self, n: int, k: int) -> float:
        """ln LR of p1 against p0."""
        return log_likelihood_ratio(n, k, self.p0, self.p1)

    def decide(self, n: int, k: int) -> Decision:
        """The decision after n requests with k events."""
        value = self.statistic(n, k)
        if value >= self.upper:
            return Decision.REGRESSED
        if value <= self.lower:
            return Decision.HEALTHY
        return Decision.CONTINUE


def mixture_alternatives(p1: float) -> tuple[float, ...]:
    """Alternatives the mixture spreads its weight over: p1 and geometric steps above it."""
    alternatives = [p1]
    while alternatives[-1] * MIXTURE_RATIO < MIXTURE_CAP:
        alternatives.append(alternatives[-1] * MIXTURE_RATIO)
    return tuple(alternatives)


@dataclass(frozen=True)
class MixtureSPRT:
    """Anytime-valid test of H0: p <= p0 against "p is above p0 by an unknown amount".

    The statistic is ln of sum_j w_j * LR(p_j : p0), equal weights over
    `alternatives`. For every true p <= p0 each LR(p_j : p0) with p_j > p0 is a
    supermartingale, so their mixture is one too: P(ever >= 1/alpha) <= alpha.
    """

    p0: float
    alternatives: tuple[float, ...]
    alpha: float

    def __post_init__(self) -> None:
        if not self.alternatives or any(not self.p0 < p < 1 for p in self.alternatives):
            raise ValueError("every alternative must lie above p0 and below 1")

    @property
    def threshold(self) -> float:
        """Threshold on the ln mixture ratio: ln(1/alpha) (Ville's inequality)."""
        return math.log(1 / self.alpha)

    @cached_property
    def _increments(self) -> list[tuple[float, float]]:
        # Per event and per non-event log increments of each alternative.
        return [
            (math.log(p / self.p0), math.log((1 - p) / (1 - self.p0))) for p in self.alternatives
        ]

    def statistic(self, n: int, k: int) -> float:
        """ln of the mixture likelihood ratio."""
        if k < 0 or n < k:
            raise ValueError(f"impossible counts: {k} events in {n} trials")
        terms = [k * up + (n - k) * down for up, down in self._increments]
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms) / len(terms))

    def crossed(self, n: int, k: int) -> bool:
        """Whether the evidence against H0 has reached the threshold."""
        return self.statistic(n, k) >= self.threshold


@dataclass(frozen=True)
class RateResult:
    """One evaluation of a RateTest, JSON-ready through `to_dict`."""

    decision: Decision
    requests: int
    events: int
    regressed_statistic: float
    regressed_threshold: float
    healthy_statistic: float
    healthy_threshold: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "decision": self.decision.value,
            "requests": self.requests,
            "events": self.events,
            "statistic": round(self.regressed_statistic, 4),
            "threshold": round(self.regressed_threshold, 4),
            "healthy_statistic": round(self.healthy_statistic, 4),
            "healthy_threshold": round(self.healthy_threshold, 4),
        }


@dataclass(frozen=True)
class Window:
    """Counts since a later start point, with the share of alpha that start point gets."""

    weight: float
    requests: int
    events: int


@dataclass(frozen=True)
class RateTest:
    """Regressed-or-healthy for one Bernoulli rate.

    - regressed: the mixture rejects "p <= p0" at level alpha, and at least
      `min_events` events were seen (one burst or one odd request never decides);
    - healthy: the point test of p0 against p1 rejects "p >= p1" at level beta
      (ln LR(p0 : p1) >= ln(1/beta)): a release at or above the limit is passed with
      probability at most beta.

    For a long watch the regression statistic is also mixed over later start points
    (`Window`s): sum_j w_j * mixture LR of the traffic since start j, with the start
    at the swap weighted 1 - sum(w_j). Each term is a supermartingale that is 1
    until its start, so the sum is one too and the alpha bound holds; a release that
    degrades late is then judged on its recent traffic, not diluted by the healthy
    traffic before.
    """

    p0: float
    p1: float
    alpha: float
    beta: float
    min_events: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.p0 < self.p1 < 1:
            raise ValueError(f"need 0 < p0 < p1 < 1 (got p0={self.p0}, p1={self.p1})")

    @cached_property
    def mixture(self) -> MixtureSPRT:
        """The regression test."""
        return MixtureSPRT(self.p0, mixture_alternatives(self.p1), self.alpha)

    @property
    def healthy_threshold(self) -> float:
        """Threshold on ln LR(p0 : p1) for "healthy"."""
        return math.log(1 / self.beta)

    def regressed_statistic(
        self, n: int, k: int, later: Sequence[Window] = (), first: float = 1.0
    ) -> float:
        """ln of the mixture over start points whose windows hold at least min_events events
        (-inf when none does). `first` is the weight of the start at the swap; the weights
        of every start point, reached or not, are fixed in advance and sum to at most 1."""
        mixture = self.mixture
        terms = [
            math.log(weight) + mixture.statistic(count, events)
            for weight, count, events in [(first, n, k)]
            + [(w.weight, w.requests, w.events) for w in later]
            if weight > 0 and events >= self.min_events
        ]
        if not terms:
            return -math.inf
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    def evaluate(
        self, n: int, k: int, later: Sequence[Window] = (), first: float = 1.0
    ) -> RateResult:
        """The decision after n requests with k events (and the later windows' counts)."""
        threshold = self.mixture.threshold
        regressed = self.regressed_statistic(n, k, later, first)
        healthy = log_likelihood_ratio(n, k, self.p1, self.p0)
        if regressed >= threshold:
            decision = Decision.REGRESSED
        elif healthy >= self.healthy_threshold:
            decision = Decision.HEALTHY
        else:
            decision = Decision.CONTINUE
        # For people: without min_events the statistic is the from-the-swap mixture.
        shown = regressed if regressed > -math.inf else self.mixture.statistic(n, k)
        return RateResult(decision, n, k, shown, threshold, healthy, self.healthy_threshold)
