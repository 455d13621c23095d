"""The canary phase against plain blue-green, printed side by side in one run.

1. Live, on the sample app (tesoro, local target, loopback) at `--rate` requests/s (200)
   from new clients: the 1.2.0 release (about 5 % of transactions fail) deployed over
   1.1.0 `--runs` times with a canary starting at 5 % (steps 5 %, 25 %) and `--runs` times
   as plain blue-green (swap, then verify). Failed user requests caused by it (the app's
   5xx the traffic saw during the deployment), medians, and the ratio. Goal: at least 10x
   fewer with the canary.
2. Live, the same: time to a healthy decision for a good release (1.0.0 and 1.1.0 in turn):
   with the canary, from its first share to verified; blue-green, from the swap to verified.
3. Simulated: false rollbacks over `--healthy` (1,000) healthy canaries (the same error and
   slow-request rates as production) judged every second for `--horizon` seconds, at
   alpha = 1 % (the canary judge: side by side plus absolute limits).
4. Simulated: a 0.1 % -> 0.3 % error regression under a time-of-day drift: the baseline was
   measured at a busy hour (old version at 0.3 %), the canary runs at a quiet hour (old
   version at 0.1 %, new at 0.3 %). A before/after comparison (the new version's errors
   against the runbook's limits: 0.1 %, or 2x the baseline when that is higher) passes it;
   the side-by-side one catches it. Counts of runs each caught, out of `--drift` (100).

    python -m benchmarks.canary [--runs 3] [--rate 200] [--healthy 1000] [--horizon 300]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from turnout.analysis.baseline import Baseline
from turnout.analysis.canary import CanaryJudge, CanaryState
from turnout.analysis.judge import Judge
from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.config.analysis import AnalysisConfig
from turnout.config.canary import CanaryConfig
from turnout.config.targets import LocalTargetConfig
from turnout.demo.story import TRAFFIC_PATH, prepare_workdir
from turnout.demo.traffic import TrafficDriver
from turnout.model import DeploymentStatus, DeploymentType, Release, VerdictKind
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.local import start_host, stop_host
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, merge

GOAL_FEWER = 10.0
CANARY = CanaryConfig(steps=[5, 25], seconds=5, requests=[200, 400], max_seconds=120)
FAST = LATENCY_BOUNDS_MS.index(100)
"""Histogram bucket of a simulated normal request (up to 100 ms)."""
SLOW = LATENCY_BOUNDS_MS.index(750)
"""Histogram bucket of a simulated slow one (above the 500 ms limit)."""


# -- 1 and 2: live ------------------------------------------------------------------------
@dataclass
class LiveRun:
    mode: str
    version: str
    status: DeploymentStatus
    failed: int
    """The app's 5xx the traffic saw during the deployment."""
    decided_s: float | None
    """Good release: from the first share (canary) or the swap (blue-green) to verified."""
    canary_s: float | None


def live(args: argparse.Namespace) -> tuple[list[LiveRun], list[LiveRun]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(prepare_workdir(Path(tmp) / "canary"))
        plain = config.env("staging")
        canary = plain.model_copy(update={"canary": CANARY})
        store = Store.open(config.state_dir)
        start_host(config, plain)
        assert isinstance(plain.target, LocalTargetConfig)
        url = f"http://{plain.target.address}{TRAFFIC_PATH}"
        driver = TrafficDriver(url, args.rate, clients=8, new_clients=True)
        try:
            for version in ("1.0.0", "1.1.0"):
                _deploy(config, plain, store, version)
            driver.start()
            time.sleep(3)  # a baseline of live traffic for the snapshot
            bad: list[LiveRun] = []
            good: list[LiveRun] = []
            for run in range(args.runs):
                for mode, env in (("canary", canary), ("blue-green", plain)):
                    bad.append(_measured(config, env, store, driver, "1.2.0", mode))
                    print(
                        f"  bad run {run + 1} {mode:<10} {bad[-1].status.value:<12}"
                        f" failed user requests {bad[-1].failed}",
                        flush=True,
                    )
                    version = "1.0.0" if _live(config, env, store) == "1.1.0" else "1.1.0"
                    good.append(_measured(config, env, store, driver, version, mode))
                    print(
                        f"  good run {run + 1} {mode:<10} {version} {good[-1].status.value:<10}"
                        f" decided in {_s(good[-1].decided_s)}",
                        flush=True,
                    )
        finally:
            driver.stop()
            stop_host(config, plain)
            store.close()
    return bad, good


def _deploy(config: LoadedConfig, env: EnvironmentConfig, store: Store, version: str) -> int:
    result = Engine(config, env, store).deploy(
        Release(version, config.resolve_path(f"dist/{version}")), DeploymentType.APP, "bench"
    )
    if result.status is DeploymentStatus.NEEDS_PERSON:
        raise SystemExit(f"{version}: {result.message}")
    return result.deployment_id


def _live(config: LoadedConfig, env: EnvironmentConfig, store: Store) -> str | None:
    from turnout.targets.registry import create_target

    target = create_target(config, env)
    try:
        slot = target.slots().get("production")
        return slot.version if slot else None
    finally:
        target.close()


def _measured(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    driver: TrafficDriver,
    version: str,
    mode: str,
) -> LiveRun:
    start = int(time.time())
    number = _deploy(config, env, store, version)
    time.sleep(2)  # the traffic's last answers of the deployment are in
    row = store.deployment(number)
    assert row is not None
    end = int(row.finished_at.timestamp()) + 1 if row.finished_at else int(time.time())
    errors = driver.snapshot().app_errors_by_second
    failed = sum(n for second, n in errors.items() if start <= second <= end)
    steps = {s.name: s for s in store.steps(number)}
    verify, swap, canary = steps.get("verify"), steps.get("swap"), steps.get("canary")
    decided = canary_s = None
    if row.status == DeploymentStatus.SUCCEEDED.value and verify and verify.finished_at:
        if canary is not None and (canary.outputs or {}).get("steps"):
            first = float(canary.outputs["steps"][0]["started_at"])
            decided = verify.finished_at.timestamp() - first
            last = canary.outputs["steps"][-1]
            canary_s = float(last["ended_at"]) - first
        elif swap is not None and swap.outputs:
            decided = verify.finished_at.timestamp() - float(swap.outputs["swapped_at"])
    return LiveRun(mode, version, DeploymentStatus(row.status), failed, decided, canary_s)


# -- 3 and 4: simulated -------------------------------------------------------------------
def second(
    rng: np.random.Generator, rps: float, error_rate: float, slow_rate: float
) -> SecondBucket:
    """One simulated second of one side: Poisson arrivals, Bernoulli errors and slow ones."""
    count = int(rng.poisson(rps))
    errors = int(rng.binomial(count, error_rate))
    slow = int(rng.binomial(count, slow_rate))
    latency = [0] * len(LATENCY_BOUNDS_MS)
    latency[FAST], latency[SLOW] = count - slow, slow
    return SecondBucket(
        second=0, count=count, status={"2xx": count - errors, "5xx": errors}, latency=latency
    )


Rates = Callable[[int], tuple[float, float]]
"""Second -> (production's error rate, the canary's error rate)."""


@dataclass(frozen=True)
class Scenario:
    """Simulated canaries: one random stream, a share of `rps`, rates by the second."""

    rng: np.random.Generator
    horizon: int
    """Seconds looked at (one look a second: continuous monitoring)."""
    rps: float
    share: float
    rates: Rates
    slow: float
    """Share of slow requests on both sides."""

    def canary(self, t: int) -> SecondBucket:
        """The canary slot's second t."""
        return second(self.rng, self.rps * self.share, self.rates(t)[1], self.slow)

    def production(self, t: int) -> SecondBucket:
        """Production's second t."""
        return second(self.rng, self.rps * (1 - self.share), self.rates(t)[0], self.slow)


def canary_run(judge: CanaryJudge, scenario: Scenario) -> int | None:
    """The second the canary judge first failed the canary, or None (looked at every second)."""
    state = CanaryState.begin(0.0)
    for t in range(scenario.horizon):
        judge.fold(state, scenario.canary(t), scenario.production(t))
        if judge.judge(state, elapsed=t + 1.0).kind is VerdictKind.FAIL:
            return t + 1
    return None


def before_after_run(judge: Judge, scenario: Scenario) -> int | None:
    """The same canary judged before/after: its own totals against the baseline only."""
    total = SecondBucket(second=0)
    for t in range(scenario.horizon):
        total = merge([total, scenario.canary(t)])
        if judge.judge(total, elapsed=t + 1.0).kind is VerdictKind.FAIL:
            return t + 1
    return None


def baseline_of(error_rate: float, slow: float, rps: float) -> Baseline:
    """A baseline measured over 10 minutes of the old version at these rates."""
    rng = np.random.default_rng(1)
    buckets = [second(rng, rps, error_rate, slow) for _ in range(600)]
    latency = [sum(column) for column in zip(*(b.latency for b in buckets), strict=True)]
    return Baseline(
        slot="production",
        since=0.0,
        until=600.0,
        requests=sum(b.count for b in buckets),
        errors=sum(b.errors for b in buckets),
        latency=latency,
    )


def simulated(args: argparse.Namespace) -> None:
    rps, slow = args.rate, 0.01
    rng = np.random.default_rng(2026)
    # The runbook's limits: 0.1 % errors, rollback at 2x the baseline when that is higher.
    limits = AnalysisConfig(alpha=0.01, beta=0.01)
    started = time.monotonic()
    healthy_rate = 0.0008
    healthy = Scenario(rng, args.horizon, rps, 0.05, lambda _t: (healthy_rate, healthy_rate), slow)
    baseline = baseline_of(healthy_rate, slow, rps)
    false = sum(
        canary_run(CanaryJudge(limits, baseline), healthy) is not None for _ in range(args.healthy)
    )
    print(
        f"3. false rollbacks of healthy canaries: {false} of {args.healthy}"
        f" ({false / args.healthy:.2%}; alpha 1 %), 5 % share of {rps:g} rps,"
        f" errors {healthy_rate:.2%} and slow requests {slow:.0%} on both sides, judged every"
        f" second for {args.horizon} s ({time.monotonic() - started:.0f} s to simulate)"
    )

    # Baseline at a busy hour (old version 0.3 %), canary at a quiet one (old 0.1 %, new 0.3 %).
    drift = Scenario(rng, args.drift_horizon, rps, 0.5, lambda _t: (0.001, 0.003), slow)
    baseline = baseline_of(0.003, slow, rps)
    side_times = [
        found
        for _ in range(args.drift)
        if (found := canary_run(CanaryJudge(limits, baseline), drift)) is not None
    ]
    before_after = sum(
        before_after_run(Judge(limits, baseline), drift) is not None for _ in range(args.drift)
    )
    median = f", median {statistics.median(side_times):.0f} s" if side_times else ""
    print(
        f"4. 0.1 % -> 0.3 % regression under a time-of-day drift (baseline at a busy hour: old"
        f" version 0.3 %; canary at a quiet one: old 0.1 %, new 0.3 %), 50 % share of"
        f" {rps:g} rps, {args.drift_horizon} s, {args.drift} runs each: before/after caught"
        f" {before_after} of {args.drift}, side by side caught {len(side_times)} of"
        f" {args.drift}{median}"
    )


def _s(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--healthy", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=300)
    parser.add_argument("--drift", type=int, default=100)
    parser.add_argument("--drift-horizon", type=int, default=900)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    if not args.skip_live:
        print(f"1-2. live: tesoro on the local target, {args.rate:g} requests/s from new clients")
        bad, good = live(args)
        by_mode = {m: [r for r in bad if r.mode == m] for m in ("canary", "blue-green")}
        medians = {m: statistics.median(r.failed for r in runs) for m, runs in by_mode.items()}
        print(f"{'':>4}{'mode':<12} {'outcomes':<40} {'failed user requests':>21}")
        for mode, runs in by_mode.items():
            print(
                f"{'':>4}{mode:<12} {', '.join(r.status.value for r in runs):<40}"
                f" {', '.join(str(r.failed) for r in runs):>14} (median {medians[mode]:g})"
            )
        ratio = medians["blue-green"] / medians["canary"] if medians["canary"] else math.inf
        print(
            f"1. 1.2.0 (5 % regression): blue-green {medians['blue-green']:g} failed user"
            f" requests, canary from 5 % {medians['canary']:g}: {ratio:.1f}x fewer"
            f" (goal >= {GOAL_FEWER:g}x)"
        )
        for mode in ("canary", "blue-green"):
            decided = [r.decided_s for r in good if r.mode == mode and r.decided_s is not None]
            spans = [r.canary_s for r in good if r.mode == mode and r.canary_s is not None]
            extra = f" (the canary itself {_s(statistics.median(spans))})" if spans else ""
            print(
                f"2. good release, {mode}: healthy decision in"
                f" {_s(statistics.median(decided)) if decided else 'n/a'} (median of"
                f" {len(decided)}){extra}"
            )
    simulated(args)


if __name__ == "__main__":
    main()
