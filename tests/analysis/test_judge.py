"""The judge: absolute and relative limits, evidence, and the baseline it compares with."""

from __future__ import annotations

import pytest

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import Judge, derive_limits, headline, latency_bound_at_or_above
from turnout.config.analysis import AnalysisConfig
from turnout.model import VerdictKind
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, bucket_index


def traffic(
    requests: int, errors: int = 0, *, fast_ms: float = 80, slow: int = 0, slow_ms: float = 1200
) -> SecondBucket:
    """Totals with `errors` failures and `slow` requests at slow_ms, the rest at fast_ms."""
    bucket = SecondBucket(second=0, count=requests)
    bucket.status = {"2xx": requests - errors, "5xx": errors} if errors else {"2xx": requests}
    bucket.latency[bucket_index(fast_ms)] += requests - slow
    bucket.latency[bucket_index(slow_ms)] += slow
    return bucket


def baseline(requests: int, errors: int, *, p95_ms: float = 200.0) -> Baseline:
    """A baseline whose slowest tenth lies in the histogram bucket that ends at p95_ms."""
    latency = [0] * len(LATENCY_BOUNDS_MS)
    tail = requests // 10
    latency[bucket_index(p95_ms * 0.5)] += requests - tail
    latency[bucket_index(p95_ms)] += tail
    return Baseline("production", 0.0, 3600.0, requests, errors, latency)


def test_default_limits_without_a_baseline_are_the_runbooks() -> None:
    """No baseline: roll back at 0.1 % errors and at p95 500 ms (5 % of requests slower)."""
    errors, latency = derive_limits(AnalysisConfig(), None)
    assert errors.p1 == pytest.approx(0.001)
    assert errors.p0 == pytest.approx(0.0005)
    assert latency.latency_ms == 500
    assert latency.p1 == pytest.approx(0.05)


def test_relative_limit_follows_a_baseline_above_the_absolute_limit() -> None:
    """A live version at 0.5 % errors: roll back at 2 x 0.5 %, tolerate 1.2 x 0.5 %."""
    errors, _ = derive_limits(AnalysisConfig(), baseline(100_000, 500))
    assert errors.p1 == pytest.approx(0.01)
    assert errors.p0 == pytest.approx(0.006)


def test_a_baseline_with_too_little_traffic_is_ignored() -> None:
    """Fewer than baseline_min_requests: the absolute limits alone apply."""
    errors, _ = derive_limits(AnalysisConfig(), baseline(100, 5))
    assert errors.p1 == pytest.approx(0.001)


def test_latency_limit_is_twice_a_slow_baseline_p95() -> None:
    """A live p95 of 350 ms moves the latency limit to 2 x 350 = 700, rounded up to 750 ms."""
    live = baseline(100_000, 0, p95_ms=400)
    assert live.quantile_ms(0.95) == pytest.approx(350)
    _, latency = derive_limits(AnalysisConfig(), live)
    assert latency.latency_ms == 750
    assert latency_bound_at_or_above(800) == 1000
    assert latency_bound_at_or_above(500) == 500


def test_clear_error_regression_fails_with_evidence() -> None:
    """20 errors in 400 requests (5 %) fails, with counts, rates, limits and the statistic."""
    judge = Judge(AnalysisConfig(), baseline(360_000, 360))
    verdict = judge.judge(traffic(400, 20), elapsed=2.0)
    assert verdict.kind is VerdictKind.FAIL
    ev = verdict.evidence
    assert ev["requests"] == 400 and ev["errors"] == 20
    assert ev["error_rate"] == pytest.approx(0.05)
    test = ev["tests"]["errors"]
    assert test["decision"] == "regressed"
    assert test["statistic"] >= test["threshold"]
    assert test["rollback_rate"] == pytest.approx(0.002)
    assert ev["thresholds"]["max_error_rate"] == 0.001
    assert ev["baseline"]["requests"] == 360_000
    assert "error rate 5.00%" in verdict.summary
    figures = headline(verdict)
    assert figures["errors_statistic"] == test["statistic"]


def test_p95_over_the_limit_fails() -> None:
    """Half the requests at 1.2 s: the p95 limit of 500 ms is broken."""
    judge = Judge(AnalysisConfig())
    verdict = judge.judge(traffic(200, slow=100), elapsed=1.0)
    assert verdict.kind is VerdictKind.FAIL
    assert verdict.evidence["tests"]["latency"]["decision"] == "regressed"
    assert verdict.evidence["p95_ms"] > 500


def test_a_single_slow_request_does_not_fail() -> None:
    """One slow request is one event: never enough to roll back."""
    judge = Judge(AnalysisConfig())
    verdict = judge.judge(traffic(3, slow=1), elapsed=0.1)
    assert verdict.kind is VerdictKind.INCONCLUSIVE


def test_release_as_bad_as_a_bad_baseline_is_not_rolled_back() -> None:
    """Live version at 0.5 % errors; the new one at 0.5 % passes, at 3 x that it fails."""
    judge = Judge(AnalysisConfig(), baseline(500_000, 2500))
    same = judge.judge(traffic(40_000, 200), elapsed=200.0)
    assert same.kind is VerdictKind.PASS
    worse = judge.judge(traffic(40_000, 600), elapsed=200.0)
    assert worse.kind is VerdictKind.FAIL


def test_relative_latency_limit_against_baseline() -> None:
    """Live p95 350 ms: a release with p95 ~700 ms passes (limit 750 ms), at 1.2 s it fails."""
    judge = Judge(AnalysisConfig(), baseline(100_000, 0, p95_ms=400))
    ok = judge.judge(traffic(20_000, slow=1000, slow_ms=700), elapsed=100.0)
    assert ok.kind is VerdictKind.PASS
    bad = judge.judge(traffic(2000, slow=400, slow_ms=1200), elapsed=10.0)
    assert bad.kind is VerdictKind.FAIL


def test_too_little_traffic_is_inconclusive() -> None:
    """Twenty clean requests are inconclusive, with a reason saying more traffic is needed."""
    verdict = Judge(AnalysisConfig()).judge(traffic(20), elapsed=30.0)
    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert any("not yet enough traffic" in r for r in verdict.reasons)


def test_no_traffic_at_all_is_inconclusive_not_a_failure() -> None:
    """Zero requests never roll back (the complaint about fixed-threshold tools)."""
    verdict = Judge(AnalysisConfig()).judge(SecondBucket(second=0), elapsed=600.0)
    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert verdict.evidence["error_rate"] is None


def test_healthy_release_passes_only_after_min_observation() -> None:
    """Enough clean traffic passes, but not before min_observation seconds."""
    judge = Judge(AnalysisConfig(min_observation=30))
    clean = traffic(20_000)
    assert judge.judge(clean, elapsed=10.0).kind is VerdictKind.INCONCLUSIVE
    assert judge.judge(clean, elapsed=30.0).kind is VerdictKind.PASS


def test_configuration_rejects_a_margin_at_the_limit() -> None:
    """margin must stay below baseline_factor - 1, or healthy would equal regressed."""
    with pytest.raises(ValueError, match="margin"):
        AnalysisConfig(margin=1.0, baseline_factor=2.0)


def test_configuration_needs_prometheus_settings_for_that_provider() -> None:
    """provider = prometheus without [analysis.prometheus] is a configuration error."""
    with pytest.raises(ValueError, match="prometheus"):
        AnalysisConfig(provider="prometheus")
