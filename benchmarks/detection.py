"""Time to detect a bad release, and false rollbacks of good ones: turnout against
fixed-interval threshold analysis configured like Flagger's and Argo Rollouts'.

Every analyser sees the same simulated traffic, second by second (the router's
resolution): `rps` requests a second, each failing with the release's error
rate and slower than 500 ms with the share its latency distribution gives
(log-normal, sigma 0.5, so p95 200 ms -> 0.03 % of requests over 500 ms and
p95 1 s -> 40 %). The live version before the swap has 0.1 % errors and
p95 200 ms; its hour of traffic is turnout's baseline.

- turnout: the real judge (`turnout.analysis.judge.Judge`, default settings:
  alpha = beta = 1 %, limits 0.1 % and p95 500 ms, 2x baseline, later start
  points every 60 s), looking after every second of traffic.
- Flagger: a check every `interval` (1 min) on the last minute's error rate and
  p95 against the limit; rollback once `threshold` checks failed (1, and 5 as in
  its docs examples).
- Argo Rollouts: a measurement every `interval` on the last interval's data;
  the analysis fails when failures exceed `failureLimit` (default 0 at 1 min,
  and the docs example: 5 min, failureLimit 3).

The fixed-interval tools are run with the runbook's limit (error rate above
0.1 % fails a check) and with the limit at 2x the baseline (0.2 %).
Good releases are watched for the whole 30-minute rollback window.

Run: python benchmarks/detection.py [--good 1000] [--bad 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import Judge
from turnout.analysis.sequential import Decision, Window, log_likelihood_ratio
from turnout.analysis.watch import LATER_SHARE
from turnout.config.analysis import AnalysisConfig
from turnout.traffic import LATENCY_BOUNDS_MS

SIGMA = 0.5
Z95 = 1.6448536269514722
WINDOW = 1800  # the runbook's 30-minute rollback window
SLOW_MS = 500.0


def share_over(limit_ms: float, p95_ms: float) -> float:
    """Share of log-normal latencies (given p95, sigma SIGMA) above limit_ms."""
    median = p95_ms / math.exp(Z95 * SIGMA)
    z = (math.log(limit_ms) - math.log(median)) / SIGMA
    return 0.5 * math.erfc(z / math.sqrt(2))


def baseline(rps: float, error_rate: float = 0.001, p95_ms: float = 200.0) -> Baseline:
    """An hour of the live version's traffic with expected counts."""
    n = int(rps * 3600)
    latency = []
    below = 0.0
    for bound in LATENCY_BOUNDS_MS:
        upto = 1.0 if math.isinf(bound) else 1 - share_over(bound, p95_ms)
        latency.append(round(n * (upto - below)))
        below = upto
    return Baseline("production", 0.0, 3600.0, n, round(n * error_rate), latency)


def binomial(n: int, p: float, rng: random.Random) -> int:
    """A Binomial(n, p) draw by inversion (fast for the small n*p of a second)."""
    if p <= 0:
        return 0
    if p >= 1:
        return n
    q = 1 - p
    prob = q**n
    cdf = prob
    u = rng.random()
    k = 0
    while u > cdf and k < n:
        prob *= (n - k) / (k + 1) * p / q
        k += 1
        cdf += prob
    return k


@dataclass(frozen=True)
class Release:
    """What a simulated release does."""

    name: str
    error_rate: float
    p95_ms: float

    @property
    def slow(self) -> float:
        """Share of its requests over 500 ms."""
        return share_over(SLOW_MS, self.p95_ms)


@dataclass
class Outcome:
    """When an analyser decided (seconds of traffic after the swap), or None."""

    rollback_at: float | None = None
    pass_at: float | None = None


Stream = list[tuple[int, int, int]]
"""Per second: (requests, errors, slow requests)."""


def stream(release: Release, rps: int, seconds: int, rng: random.Random) -> Stream:
    """The release's traffic, second by second."""
    slow = release.slow
    return [
        (rps, binomial(rps, release.error_rate, rng), binomial(rps, slow, rng))
        for _ in range(seconds)
    ]


class Turnout:
    """turnout's judge over a stream, as the watch loop runs it (one look per second)."""

    name = "turnout (sequential, alpha 1 %)"

    def __init__(self, rps: int) -> None:
        config = AnalysisConfig()
        self.config = config
        self.judge = Judge(config, baseline(rps))
        self.every = int(config.restart_every)
        self.marks = math.ceil(config.watch_for / config.restart_every)
        self.slow_limit = self.judge.latency_limit_ms
        assert self.slow_limit == SLOW_MS

    def run(self, data: Stream) -> Outcome:
        tests = self.judge.tests
        weight, first = LATER_SHARE / self.marks, 1 - LATER_SHARE
        out = Outcome()
        n = errors = slow = 0
        checkpoints: list[tuple[int, int, int]] = []
        for second, (count, e, s) in enumerate(data):
            if second and second % self.every == 0 and len(checkpoints) < self.marks:
                checkpoints.append((n, errors, slow))
            n, errors, slow = n + count, errors + e, slow + s
            for events, new, metric, index in ((errors, e, "errors", 1), (slow, s, "latency", 2)):
                if not new:  # no statistic can rise without a new event
                    continue
                later = [Window(weight, n - c[0], events - c[index]) for c in checkpoints]
                if tests[metric].evaluate(n, events, later, first).decision is Decision.REGRESSED:
                    out.rollback_at = second + 1
                    return out
            if out.pass_at is None and second + 1 >= self.config.min_observation:
                healthy = all(
                    log_likelihood_ratio(n, k, tests[m].p1, tests[m].p0)
                    >= tests[m].healthy_threshold
                    for m, k in (("errors", errors), ("latency", slow))
                )
                if healthy:
                    out.pass_at = second + 1
        return out


class FixedInterval:
    """A check every `interval` seconds on the last `interval` seconds of traffic; rollback
    once `failures` checks failed."""

    def __init__(self, name: str, interval: int, failures: int, error_limit: float) -> None:
        self.name = name
        self.interval = interval
        self.failures = failures
        self.error_limit = error_limit

    def run(self, data: Stream) -> Outcome:
        failed = 0
        for end in range(self.interval, len(data) + 1, self.interval):
            window = data[end - self.interval : end]
            n = sum(c for c, _, _ in window)
            errors = sum(e for _, e, _ in window)
            slow = sum(s for _, _, s in window)
            # No data counts as a failed check (Flagger); with traffic, rates vs limits.
            bad = n == 0 or errors / n > self.error_limit or slow / n > 0.05
            failed += bad
            if failed >= self.failures:
                return Outcome(rollback_at=float(end))
        return Outcome()


def analysers(rps: int) -> list[tuple[str, Callable[[Stream], Outcome]]]:
    """Every analyser compared, configured for this traffic rate."""
    turnout = Turnout(rps)
    out: list[tuple[str, Callable[[Stream], Outcome]]] = [(turnout.name, turnout.run)]
    for limit, label in ((0.001, "0.1 %"), (0.002, "0.2 %")):
        for tool in (
            FixedInterval(f"Flagger 1m, threshold 1, limit {label}", 60, 1, limit),
            FixedInterval(f"Flagger 1m, threshold 5, limit {label}", 60, 5, limit),
            FixedInterval(f"Argo 1m, failureLimit 0, limit {label}", 60, 1, limit),
            FixedInterval(f"Argo 5m, failureLimit 3, limit {label}", 300, 4, limit),
        ):
            out.append((tool.name, tool.run))
    return out


def requests_to_detect(release: Release, rps: int, runs: int, rng: random.Random) -> list[int]:
    """turnout at request resolution: requests until regressed, looking at every event."""
    tests = Turnout(rps).judge.tests
    out = []
    for _ in range(runs):
        n = errors = slow = 0
        while n < 1_000_000:
            n += 1
            failed = rng.random() < release.error_rate
            late = rng.random() < release.slow
            errors, slow = errors + failed, slow + late
            if (failed and tests["errors"].evaluate(n, errors).decision is Decision.REGRESSED) or (
                late and tests["latency"].evaluate(n, slow).decision is Decision.REGRESSED
            ):
                break
        out.append(n)
    return out


def _fmt(values: list[float]) -> str:
    if not values:
        return "      -      -"
    return f"{statistics.median(values):7.1f} {statistics.fmean(values):6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--good", type=int, default=1000, help="good releases per rate")
    parser.add_argument("--bad", type=int, default=300, help="bad releases per case and rate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    good = Release("good: 0.1 % errors, p95 200 ms", 0.001, 200)
    bad = [
        Release("errors 0.1 % -> 5 %", 0.05, 200),
        Release("errors 0.1 % -> 0.3 %", 0.003, 200),
        Release("p95 200 ms -> 1 s", 0.001, 1000),
    ]
    print(__doc__.split("\n\n")[0])
    print(f"{args.good} good and {args.bad} bad releases per case; seed {args.seed}\n")
    for rps in (50, 200):
        tools = analysers(rps)
        for release in bad:
            rng = random.Random(f"{args.seed}:{rps}:{release.name}")
            streams = [stream(release, rps, WINDOW, rng) for _ in range(args.bad)]
            print(f"{release.name} at {rps} req/s -- seconds of traffic until rollback")
            print(f"  {'analyser':44} {'median':>7} {'mean':>6} {'caught':>7}")
            for name, run in tools:
                times = [o.rollback_at for o in map(run, streams) if o.rollback_at is not None]
                caught = len(times) / len(streams)
                print(f"  {name:44} {_fmt(times)} {caught:7.1%}")
            print()
        rng = random.Random(f"{args.seed}:{rps}:good")
        streams = [stream(good, rps, WINDOW, rng) for _ in range(args.good)]
        print(f"{good.name} at {rps} req/s -- rolled back within 30 min (false rollbacks)")
        print(f"  {'analyser':44} {'false':>7} {'passed after (median/mean s)':>30}")
        for name, run in tools:
            outcomes = [run(s) for s in streams]
            false = sum(o.rollback_at is not None for o in outcomes) / len(outcomes)
            passes = [o.pass_at for o in outcomes if o.pass_at is not None]
            shown = _fmt(passes) if passes else "    (no pass decision)"
            print(f"  {name:44} {false:7.1%} {shown:>30}")
        print()
    print("turnout at request resolution -- requests until rollback (median / mean)")
    for release in bad:
        rng = random.Random(f"{args.seed}:requests:{release.name}")
        counts = requests_to_detect(release, 200, args.bad, rng)
        print(
            f"  {release.name:24} {statistics.median(counts):8.0f} {statistics.fmean(counts):8.1f}"
        )
    print(f"(alpha = {AnalysisConfig().alpha:.0%}; run took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
