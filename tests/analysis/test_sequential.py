"""Sequential tests: error bounds under continuous monitoring, speed, edge cases."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from turnout.analysis.sequential import (
    Decision,
    MixtureSPRT,
    RateTest,
    WaldSPRT,
    Window,
    log_likelihood_ratio,
    mixture_alternatives,
)

SEED = 20261126


def _tolerance(alpha: float, runs: int) -> float:
    """alpha plus three binomial standard deviations of an estimate over `runs` runs."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def _first_regression(test: RateTest, rate: float, rng: random.Random, horizon: int) -> int | None:
    """Requests until the test says regressed, looking after every request, or None.

    The regression statistic only rises when an event arrives, so looking at every
    event is the same as looking after every single request."""
    n = k = 0
    while True:
        n += int(math.log(1 - rng.random()) / math.log(1 - rate)) + 1
        if n > horizon:
            return None
        k += 1
        if test.evaluate(n, k).decision is Decision.REGRESSED:
            return n


def test_log_likelihood_ratio_matches_the_wald_increments() -> None:
    """Each event adds ln(p1/p0) and each non-event ln((1-p1)/(1-p0))."""
    value = log_likelihood_ratio(10, 2, 0.001, 0.05)
    expected = 2 * math.log(0.05 / 0.001) + 8 * math.log(0.95 / 0.999)
    assert value == pytest.approx(expected)


def test_wald_thresholds_are_the_reference_values() -> None:
    """At alpha = beta = 1 % the thresholds are +-ln(99) = 4.595."""
    test = WaldSPRT(0.001, 0.05, 0.01, 0.01)
    assert test.upper == pytest.approx(math.log(99))
    assert test.lower == pytest.approx(-math.log(99))


def test_wald_decides_both_ways() -> None:
    """Wald's SPRT says regressed on a 5 % error stream and healthy on a clean one."""
    test = WaldSPRT(0.001, 0.05, 0.01, 0.01)
    assert test.decide(60, 3) is Decision.REGRESSED
    assert test.decide(100, 0) is Decision.HEALTHY
    assert test.decide(20, 0) is Decision.CONTINUE


def test_mixture_alternatives_start_at_p1_and_stay_below_one() -> None:
    """The mixture covers p1 and geometric steps above it, all below 1."""
    alternatives = mixture_alternatives(0.002)
    assert alternatives[0] == 0.002
    assert all(0 < a < 1 for a in alternatives)
    assert all(b / a == pytest.approx(4.0) for a, b in itertools.pairwise(alternatives))


def test_mixture_rejects_bad_alternatives() -> None:
    """An alternative at or below p0 would break the bound, so it is refused."""
    with pytest.raises(ValueError):
        MixtureSPRT(0.01, (0.005,), 0.01)


def test_false_rollbacks_stay_below_alpha_under_continuous_monitoring() -> None:
    """2,000 healthy releases at exactly the tolerated rate, looked at after every request
    for 20,000 requests each: the share rolled back stays within alpha + 3 sigma."""
    rng = random.Random(SEED)
    alpha = 0.01
    test = RateTest(p0=0.0012, p1=0.002, alpha=alpha, beta=0.01, min_events=2)
    runs = 2000
    rollbacks = sum(
        _first_regression(test, 0.0012, rng, horizon=20_000) is not None for _ in range(runs)
    )
    assert rollbacks / runs <= _tolerance(alpha, runs)


def test_false_rollbacks_are_rarer_for_releases_better_than_tolerated() -> None:
    """A release below the tolerated rate is rolled back even less often (supermartingale)."""
    rng = random.Random(SEED + 1)
    test = RateTest(p0=0.0012, p1=0.002, alpha=0.01, beta=0.01)
    runs = 2000
    rollbacks = sum(
        _first_regression(test, 0.0008, rng, horizon=20_000) is not None for _ in range(runs)
    )
    assert rollbacks / runs <= 0.01


def test_detects_a_jump_to_five_percent_errors_within_sixty_requests_on_average() -> None:
    """0.1 % -> 5 % errors is declared regressed after about 55 requests on average with the
    judge's defaults (alpha split over two metrics, 20 % margin, p1 unknown), against 45 for an
    SPRT that would know p1 = 5 % in advance."""
    rng = random.Random(SEED + 2)
    test = RateTest(p0=0.0012, p1=0.002, alpha=0.005, beta=0.005)
    times = [_first_regression(test, 0.05, rng, horizon=10_000) for _ in range(1000)]
    detected = [t for t in times if t is not None]
    assert len(detected) == len(times)
    assert sum(detected) / len(detected) <= 60


def test_one_event_never_decides_a_regression() -> None:
    """A single error, however unlikely under the tolerated rate, is not enough (min_events)."""
    test = RateTest(p0=0.0001, p1=0.0002, alpha=0.01, beta=0.01, min_events=2)
    result = test.evaluate(1, 1)
    assert result.regressed_statistic >= result.regressed_threshold
    assert result.decision is Decision.CONTINUE
    assert test.evaluate(2, 2).decision is Decision.REGRESSED


def test_little_traffic_is_inconclusive() -> None:
    """Fifty clean requests prove nothing either way at a 0.1 % limit."""
    test = RateTest(p0=0.0005, p1=0.001, alpha=0.01, beta=0.01)
    assert test.evaluate(50, 0).decision is Decision.CONTINUE
    assert test.evaluate(0, 0).decision is Decision.CONTINUE


def test_healthy_needs_enough_clean_traffic() -> None:
    """A clean stream is passed once ln(1/beta) of evidence for p0 over p1 accumulated."""
    test = RateTest(p0=0.0005, p1=0.001, alpha=0.01, beta=0.01)
    needed = math.ceil(math.log(100) / math.log((1 - 0.0005) / (1 - 0.001)))
    assert test.evaluate(needed - 1, 0).decision is Decision.CONTINUE
    assert test.evaluate(needed, 0).decision is Decision.HEALTHY


def test_releases_at_the_rollback_limit_are_rarely_passed() -> None:
    """A release exactly at p1 is declared healthy with probability at most beta (+3 sigma)."""
    rng = random.Random(SEED + 3)
    p0, p1, beta = 0.025, 0.05, 0.01
    test = RateTest(p0=p0, p1=p1, alpha=0.01, beta=beta)
    per_clean = math.log((1 - p0) / (1 - p1))
    runs = 2000
    passed = 0
    for _ in range(runs):
        n = k = 0
        while n < 50_000:
            gap = int(math.log(1 - rng.random()) / math.log(1 - p1))
            # The healthy statistic only grows between events: does it cross before the next?
            clean_needed = (test.healthy_threshold - k * math.log(p0 / p1)) / per_clean
            if k + clean_needed <= n + gap:
                assert test.evaluate(k + math.ceil(clean_needed), k).decision is Decision.HEALTHY
                passed += 1
                break
            n += gap + 1
            k += 1
            if test.evaluate(n, k).decision is Decision.REGRESSED:
                break
    assert passed / runs <= _tolerance(beta, runs)


def test_counts_must_be_possible() -> None:
    """More events than requests is a programming error, not a verdict."""
    with pytest.raises(ValueError):
        log_likelihood_ratio(1, 2, 0.1, 0.2)


def _watch(
    test: RateTest,
    rates: list[tuple[int, float]],
    rng: random.Random,
    *,
    every: int,
    marks: int,
    horizon: int,
) -> int | None:
    """Requests until regressed, the rate changing at the given request counts, with later
    start points every `every` requests (weights fixed in advance); None if never.

    Looks at every event: no statistic can rise between two events."""
    share = 0.1
    checkpoints: list[tuple[int, int]] = []
    n = k = 0
    while True:
        rate = next(r for start, r in reversed(rates) if n >= start)
        change = next((start for start, _ in rates if start > n), None)
        gap = int(math.log(1 - rng.random()) / math.log(1 - rate))
        if change is not None and n + gap + 1 > change:
            _reach(checkpoints, change, k, every, marks)
            n = change  # memoryless: draw again at the new rate from the change on
            continue
        _reach(checkpoints, n + gap, k, every, marks)
        n += gap + 1
        if n > horizon:
            return None
        k += 1
        later = [Window(share / marks, n - cn, k - ck) for cn, ck in checkpoints]
        first = 1 - share if marks else 1.0
        if test.evaluate(n, k, later, first).decision is Decision.REGRESSED:
            return n


def _reach(checkpoints: list[tuple[int, int]], n: int, k: int, every: int, marks: int) -> None:
    """Record the counts at every start point up to request n (no event in between)."""
    while len(checkpoints) < marks and (len(checkpoints) + 1) * every <= n:
        checkpoints.append(((len(checkpoints) + 1) * every, k))


def test_later_start_points_keep_false_rollbacks_below_alpha() -> None:
    """1,000 healthy releases watched over 20,000 requests with 10 later start points:
    false rollbacks stay within alpha + 3 sigma."""
    rng = random.Random(SEED + 4)
    test = RateTest(p0=0.002, p1=0.004, alpha=0.01, beta=0.01)
    runs = 1000
    rollbacks = sum(
        _watch(test, [(0, 0.002)], rng, every=2000, marks=10, horizon=20_000) is not None
        for _ in range(runs)
    )
    assert rollbacks / runs <= _tolerance(0.01, runs)


def test_late_degradation_is_caught_from_recent_traffic() -> None:
    """A release that goes from 0.1 % to 5 % errors after 20,000 healthy requests is caught
    within 200 requests on average; judged on all traffic since the swap it takes longer."""
    rng = random.Random(SEED + 5)
    test = RateTest(p0=0.0012, p1=0.002, alpha=0.005, beta=0.005)
    rates = [(0, 0.001), (20_000, 0.05)]
    late = [_watch(test, rates, rng, every=1000, marks=30, horizon=60_000) for _ in range(200)]
    plain = [_watch(test, rates, rng, every=1000, marks=0, horizon=60_000) for _ in range(200)]
    assert all(t is not None and t > 20_000 for t in late + plain)
    late_delay = sum(t - 20_000 for t in late if t is not None) / len(late)
    plain_delay = sum(t - 20_000 for t in plain if t is not None) / len(plain)
    assert late_delay <= 200
    assert plain_delay > late_delay
