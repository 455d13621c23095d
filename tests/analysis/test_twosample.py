"""The two-sample sequential test: false alarms bounded under continuous monitoring, power,
indifference to production's own rate, and the canary judge built on it."""

from __future__ import annotations

import math
import random

import pytest

from turnout.analysis.canary import CanaryJudge, CanaryState, blast_radius
from turnout.analysis.sequential import Decision
from turnout.analysis.twosample import (
    TwoSampleState,
    TwoSampleTest,
    ratio_alternatives,
    share_of_events,
)
from turnout.config.analysis import AnalysisConfig
from turnout.model import VerdictKind
from turnout.traffic import SecondBucket

SEED = 20261202


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; the means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _run(test: TwoSampleTest, rng: random.Random, seconds: int, rates: tuple[float, float]) -> int:
    """Seconds until the test says regressed (looking every second), or 0 if it never does."""
    state = TwoSampleState()
    canary_rate, production_rate = rates
    for second in range(1, seconds + 1):
        n_c, n_p = 10, 190  # 5 % of 200 requests a second on the canary
        k_c = min(_poisson(rng, n_c * canary_rate), n_c)
        k_p = _poisson(rng, n_p * production_rate)
        state.add(test, n_c, k_c, n_p, min(k_p, n_p))
        if state.decision(test) is Decision.REGRESSED:
            return second
    return 0


def test_share_of_events_follows_the_request_split_and_the_ratio() -> None:
    """With equal rates an event comes from the canary as often as its share of requests."""
    assert share_of_events(10, 90, 1.0) == pytest.approx(0.1)
    assert share_of_events(10, 90, 2.0) == pytest.approx(20 / 110)
    assert ratio_alternatives(2.0)[:3] == (2.0, 8.0, 32.0)


def test_a_second_without_events_or_without_one_side_changes_nothing() -> None:
    """No events, or a side that served nothing, carries no evidence either way."""
    test = TwoSampleTest(1.2, 2.0, 0.01, 0.01)
    for counts in [(10, 0, 190, 0), (0, 0, 190, 3), (10, 2, 0, 0)]:
        steps, healthy = test.increments(*counts)
        assert all(s == 0 for s in steps) and healthy == 0


def test_impossible_counts_are_refused() -> None:
    """More events than requests is a bug in the caller, never evidence."""
    test = TwoSampleTest(1.2, 2.0, 0.01, 0.01)
    with pytest.raises(ValueError, match="more events"):
        test.increments(1, 2, 10, 0)
    with pytest.raises(ValueError):
        TwoSampleTest(2.0, 1.5, 0.01, 0.01)


def test_false_alarms_stay_below_alpha_under_continuous_monitoring() -> None:
    """A canary exactly as good as production, looked at every second for 10 minutes, is
    called regressed in at most alpha of the runs (plus sampling noise)."""
    test = TwoSampleTest(1.2, 2.0, 0.05, 0.05)
    rng = random.Random(SEED)
    runs = 200
    alarms = sum(1 for _ in range(runs) if _run(test, rng, 600, (0.01, 0.01)))
    assert alarms / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_a_threefold_error_rate_is_caught_whatever_production_runs_at() -> None:
    """0.3 % against 0.1 %, and 3 % against 1 %, are both regressions (the ratio matters)."""
    test = TwoSampleTest(1.2, 2.0, 0.01, 0.01)
    rng = random.Random(SEED)
    caught_low = [_run(test, rng, 1800, (0.003, 0.001)) for _ in range(20)]
    caught_high = [_run(test, rng, 600, (0.03, 0.01)) for _ in range(20)]
    assert sum(1 for s in caught_low if s) >= 16
    assert sum(1 for s in caught_high if s) >= 19
    # Ten times the events: decided much sooner.
    assert sorted(s for s in caught_high if s)[10] < sorted(s for s in caught_low if s)[8]


def test_the_healthy_boundary_is_reached_by_an_equal_canary() -> None:
    """A canary as good as production gathers evidence for "healthy" and is never regressed."""
    test = TwoSampleTest(1.2, 2.0, 0.01, 0.01)
    rng = random.Random(SEED)
    state = TwoSampleState()
    for _ in range(600):
        n_c, n_p = 100, 100
        state.add(test, n_c, _poisson(rng, 2.0), n_p, _poisson(rng, 2.0))
    assert state.decision(test) is Decision.HEALTHY
    again = TwoSampleState.from_dict(state.to_dict())
    assert again == state


def _bucket(second: int, count: int, errors: int, slow: int = 0) -> SecondBucket:
    bucket = SecondBucket(second=second)
    for i in range(count):
        latency = 900.0 if i < slow else 50.0
        bucket.add(500 if i < errors else 200, latency)
    return bucket


def test_the_canary_judge_fails_on_a_side_by_side_regression_and_reports_the_blast_radius() -> None:
    """A canary at 5 % errors beside a clean production fails, naming both rates; the
    evidence counts the user requests the canary served and failed."""
    judge = CanaryJudge(AnalysisConfig(max_error_rate=0.2, min_observation=0))
    state = CanaryState.begin(1000.0)
    for second in range(1000, 1060):
        judge.fold(state, _bucket(second, 20, 1), _bucket(second, 180, 0))
    verdict = judge.judge(state, elapsed=60)
    assert verdict.kind is VerdictKind.FAIL
    assert "against production's 0.00%" in verdict.summary
    assert verdict.evidence["blast_radius"] == {"served": 1200, "failed": 60, "probes": 0}
    assert verdict.evidence["side_by_side"]["errors"]["decision"] == "regressed"
    assert blast_radius(state.canary)["served"] == 1200
    restored = CanaryState.from_dict(state.to_dict())
    assert judge.judge(restored, elapsed=60).kind is VerdictKind.FAIL


def test_the_absolute_limits_still_apply_to_the_canary() -> None:
    """A canary as bad as production is not a side-by-side regression, but above the
    absolute limit it still fails."""
    judge = CanaryJudge(AnalysisConfig(max_error_rate=0.001, min_observation=0))
    state = CanaryState.begin(0.0)
    for second in range(120):
        judge.fold(state, _bucket(second, 50, 5), _bucket(second, 50, 5))
    verdict = judge.judge(state, elapsed=120)
    assert verdict.evidence["side_by_side"]["errors"]["decision"] != "regressed"
    assert verdict.kind is VerdictKind.FAIL and "above the limit" in verdict.summary
