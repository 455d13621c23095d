"""The watch loop on simulated live traffic, on a frozen clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from turnout.analysis.baseline import Baseline, measure_baseline
from turnout.analysis.judge import Judge
from turnout.analysis.router import RouterProvider
from turnout.analysis.simulate import CountingFakeTarget, SimulatedTraffic, VersionProfile
from turnout.analysis.watch import Watcher, WatchState, state_key
from turnout.clock import FrozenClock
from turnout.config.analysis import AnalysisConfig
from turnout.model import Release, VerdictKind
from turnout.store import Store
from turnout.targets.protocol import PRODUCTION

PROFILES = {
    "1.0": VersionProfile(error_rate=0.001, p95_ms=200),
    "good": VersionProfile(error_rate=0.001, p95_ms=200),
    "clean": VersionProfile(error_rate=0.0, p95_ms=150),
    "failing": VersionProfile(error_rate=0.05, p95_ms=200),
    "slow": VersionProfile(error_rate=0.001, p95_ms=1000),
}


def live_target(
    clock: FrozenClock, rps: float = 100, history: float = 600
) -> tuple[CountingFakeTarget, Baseline]:
    """Production on 1.0 for `history` seconds, its baseline, and a staging slot."""
    target = CountingFakeTarget("web", now(clock), rps=rps, profiles=PROFILES, seed=7)
    target.ensure_slot("blue")
    target.deploy(PRODUCTION, Release("1.0"))
    clock.advance(history)
    base = measure_baseline(RouterProvider(target), PRODUCTION, now(clock)(), history)
    return target, base


def now(clock: FrozenClock) -> Callable[[], float]:
    """The clock as unix time."""
    return lambda: clock.now().timestamp()


def swap_in(target: CountingFakeTarget, clock: FrozenClock, version: str) -> float:
    """Stage a version and swap it into production; the swap time."""
    target.deploy("blue", Release(version))
    at = clock.now().timestamp()
    target.swap("blue", PRODUCTION)
    return at


def watcher(
    target: CountingFakeTarget,
    clock: FrozenClock,
    base: Baseline | None,
    swapped_at: float,
    config: AnalysisConfig,
    **kwargs: object,
) -> Watcher:
    """A watcher for production from the swap on."""
    state = WatchState.begin(PRODUCTION, swapped_at, config.warmup_exclude)
    return Watcher(RouterProvider(target), Judge(config, base), clock, state, **kwargs)  # type: ignore[arg-type]  # tests pass Watcher's own keywords


def test_failing_release_is_caught_within_seconds() -> None:
    """5 % errors at 100 req/s are declared regressed within 3 s of the swap."""
    clock = FrozenClock()
    target, base = live_target(clock)
    swapped_at = swap_in(target, clock, "failing")
    config = AnalysisConfig()
    result = watcher(target, clock, base, swapped_at, config).run(
        deadline=swapped_at + 600, stop_on_pass=True, poll_interval=0.25
    )
    assert result.verdict.kind is VerdictKind.FAIL
    assert result.reason == "regressed"
    ev = result.verdict.evidence
    assert ev["crossed_after_swap_s"] <= 3.0
    assert ev["crossed_at"] == pytest.approx(swapped_at + ev["crossed_after_swap_s"], abs=1e-3)
    assert ev["tests"]["errors"]["decision"] == "regressed"


def test_slow_release_is_caught_by_the_p95_limit() -> None:
    """p95 200 ms -> 1 s is declared regressed within 3 s of the swap."""
    clock = FrozenClock()
    target, base = live_target(clock)
    swapped_at = swap_in(target, clock, "slow")
    result = watcher(target, clock, base, swapped_at, AnalysisConfig()).run(
        deadline=swapped_at + 600, stop_on_pass=True, poll_interval=0.25
    )
    assert result.verdict.kind is VerdictKind.FAIL
    assert result.verdict.evidence["tests"]["latency"]["decision"] == "regressed"
    assert result.verdict.evidence["crossed_after_swap_s"] <= 3.0


def test_clean_release_passes_once_enough_traffic_was_seen() -> None:
    """An error-free release at 100 req/s passes after about a minute, not before."""
    clock = FrozenClock()
    target, base = live_target(clock)
    swapped_at = swap_in(target, clock, "clean")
    result = watcher(target, clock, base, swapped_at, AnalysisConfig()).run(
        deadline=swapped_at + 600, stop_on_pass=True, poll_interval=0.5
    )
    assert result.verdict.kind is VerdictKind.PASS
    assert 20 <= result.verdict.evidence["seconds_after_swap"] <= 120


def test_too_little_traffic_ends_inconclusive_at_max_observation() -> None:
    """At one request every few seconds nothing can be decided: inconclusive, not a rollback."""
    clock = FrozenClock()
    target, base = live_target(clock, rps=0.3, history=60)
    swapped_at = swap_in(target, clock, "good")
    config = AnalysisConfig(max_observation=120)
    result = watcher(target, clock, base, swapped_at, config).run(
        deadline=swapped_at + config.max_observation, stop_on_pass=True, poll_interval=1.0
    )
    assert result.verdict.kind is VerdictKind.INCONCLUSIVE
    assert result.reason == "max-observation"
    assert result.state.status == "inconclusive"
    assert clock.now().timestamp() >= swapped_at + 120


def test_warm_up_traffic_is_not_judged() -> None:
    """Errors only during the excluded warm-up never count against the release."""
    clock = FrozenClock()
    t0 = clock.now().timestamp()
    traffic = SimulatedTraffic(now(clock), seed=3)
    traffic.set(PRODUCTION, t0, 100, error_rate=0.5)
    traffic.set(PRODUCTION, t0 + 10, 100, error_rate=0.0)
    config = AnalysisConfig(warmup_exclude=10)
    state = WatchState.begin(PRODUCTION, t0, config.warmup_exclude)
    loop = Watcher(RouterProvider(traffic), Judge(config), clock, state)
    result = loop.run(deadline=t0 + 300, stop_on_pass=True, poll_interval=0.5)
    assert result.verdict.kind is VerdictKind.PASS
    assert result.state.totals.errors == 0


def test_state_survives_a_restart(sqlite_store: Store) -> None:
    """Stopped half-way and started again from the store, the watch keeps its totals."""
    clock = FrozenClock()
    target, base = live_target(clock, history=120)
    swapped_at = swap_in(target, clock, "good")
    config = AnalysisConfig()
    key = state_key("web", 1)
    first = watcher(target, clock, base, swapped_at, config, store=sqlite_store, key=key)
    first.run(deadline=swapped_at + 20, stop_on_pass=False, poll_interval=0.5)
    saved = sqlite_store.get(key)
    assert saved is not None
    requests_then = saved["totals"]["count"]
    assert requests_then >= 1500

    resumed = WatchState.from_dict(saved)
    assert resumed.folded_until == saved["folded_until"]
    again = Watcher(
        RouterProvider(target), Judge(config, base), clock, resumed, store=sqlite_store, key=key
    )
    again.run(deadline=swapped_at + 40, stop_on_pass=False, poll_interval=0.5)
    final = sqlite_store.get(key)
    assert final is not None
    # Every second from the swap on is counted exactly once across both runs.
    direct = sum(b.count for b in target.traffic(PRODUCTION, swapped_at, final["folded_until"]))
    assert final["totals"]["count"] == direct
    assert final["totals"]["count"] > requests_then


def test_watch_mode_keeps_going_after_healthy() -> None:
    """Without stop_on_pass the loop runs to the end of the window and reports it ended."""
    clock = FrozenClock()
    target, base = live_target(clock, history=120)
    swapped_at = swap_in(target, clock, "clean")
    result = watcher(target, clock, base, swapped_at, AnalysisConfig()).run(
        deadline=swapped_at + 180, stop_on_pass=False, poll_interval=1.0
    )
    assert result.reason == "window-ended"
    assert result.verdict.kind is VerdictKind.PASS
    assert result.state.healthy_at is not None
    assert clock.now().timestamp() >= swapped_at + 180


def test_every_look_is_kept_as_a_sample_for_drawing_the_evidence(sqlite_store: Store) -> None:
    """Each look leaves a sample (totals, live and probe requests apart, each test's statistic
    and thresholds) in the saved state, and the last one carries the decision."""
    clock = FrozenClock()
    target, base = live_target(clock)
    swapped_at = swap_in(target, clock, "failing")
    config = AnalysisConfig()
    key = state_key("web", 1)
    found = watcher(target, clock, base, swapped_at, config, store=sqlite_store, key=key)
    result = found.run(deadline=swapped_at + 600, stop_on_pass=True, poll_interval=0.25)
    saved = sqlite_store.get(key)
    assert saved is not None
    samples = WatchState.from_dict(saved).samples
    assert len(samples) == result.state.polls >= 2
    assert [s.seconds_after_swap for s in samples] == sorted(s.seconds_after_swap for s in samples)
    last = samples[-1]
    assert last.kind == "fail" and last.errors > 0 and last.requests > 0
    errors = last.tests["errors"]
    assert errors.statistic >= errors.threshold and errors.decision == "regressed"
    assert samples[0].tests["errors"].statistic < errors.statistic
    assert last.live_requests == last.requests - last.probe_requests


def test_a_long_watch_keeps_a_bounded_evenly_thinned_series() -> None:
    """Past MAX_SAMPLES looks the older ones are thinned, keeping the first and the newest."""
    from turnout.analysis.watch import MAX_SAMPLES
    from turnout.store.deployment_data import AnalysisSample

    state = WatchState.begin(PRODUCTION, 0.0, 0.0)
    for second in range(MAX_SAMPLES * 3):
        state.add_sample(
            AnalysisSample(float(second), float(second), "watch", "pass", 1, 0, 0, 0.0, 1.0)
        )
    assert len(state.samples) <= MAX_SAMPLES
    assert state.samples[0].at == 0.0 and state.samples[-1].at == MAX_SAMPLES * 3 - 1
    gaps = {b.at - a.at for a, b in zip(state.samples, state.samples[1:], strict=False)}
    assert len(gaps) <= 3
