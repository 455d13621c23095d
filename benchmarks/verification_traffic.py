"""Verification that decides on any traffic: how long the probes take to reach a verdict,
beside the same deployments on live traffic, measured in the same run.

On the local target with the tesoro sample app (staging environment, real slot
processes, real HTTP through the router), each case deploys a release and reads
from the journal when the verdict came, in seconds after the swap:

1. a healthy release on staging (1 % error limit), no outside traffic: probes
   only. Goal: healthy in 30 s or less.
2. the same on production's 0.1 % limit (about 10,600 requests), probes only at
   the default caps. Goal: healthy in 120 s or less.
3. a 5 % regression (1.2.0) on the path the probes hit (GET
   /api/transactions/recent is the probe request), no outside traffic, with
   probing before the swap switched off so it reaches production. Goal: swapped
   back within 5 s of the swap. Also with the default `before_swap`, where the
   probes catch it on the staging slot before any traffic moves.
4. the probe's rate: the most requests any probe batch sent in one second,
   against its cap (it must never exceed it).

Each case runs again with `--rate` live requests per second (default 100) sent
to the router by a traffic driver: the "live traffic" column.

    python -m benchmarks.verification_traffic [--runs 1] [--rate 100] [--only CASE ...]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.config.targets import LocalTargetConfig
from turnout.demo.story import TRAFFIC_PATH, prepare_workdir
from turnout.demo.traffic import TrafficDriver
from turnout.model import DeploymentType, Release
from turnout.runbook.engine import Engine, Result
from turnout.store import Store
from turnout.targets.local import start_host, stop_host

OVERRIDE = "TURNOUT__ENVIRONMENTS__STAGING__ANALYSIS__"
PROBE_PATHS = '[{ path = "/api/transactions/recent" }]'
"""The regression cases probe the path that regresses (tesoro's cheap transaction read)."""


@dataclass
class Figures:
    """What one case measured, per run."""

    seconds: list[float] = field(default_factory=list)
    peaks: list[tuple[int, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else math.nan


@contextmanager
def overrides(values: dict[str, str]) -> Iterator[None]:
    """Configuration overrides (TURNOUT__… variables) for the deployments inside."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Bench:
    """A tesoro work directory with its staging host up."""

    def __init__(self, root: Path) -> None:
        self.path = prepare_workdir(root)
        config = load_config(self.path)
        self.store = Store.open(config.state_dir)
        start_host(config, config.env("staging"))

    def environment(self) -> tuple[LoadedConfig, EnvironmentConfig]:
        config = load_config(self.path)
        return config, config.env("staging")

    def deploy(self, version: str) -> Result:
        config, env = self.environment()
        return Engine(config, env, self.store).deploy(
            Release(version, config.resolve_path(f"dist/{version}")), DeploymentType.APP, "bench"
        )

    def step(self, result: Result, name: str) -> dict[str, Any]:
        for row in self.store.steps(result.deployment_id):
            if row.name == name:
                return dict(row.outputs or {})
        return {}

    def swapped_at(self, result: Result) -> float:
        return float(self.step(result, "swap")["swapped_at"])

    def back_after_swap(self, result: Result) -> float:
        swap = next(s for s in self.store.steps(result.deployment_id) if s.name == "swap")
        assert swap.finished_at is not None
        return swap.finished_at.timestamp() - self.swapped_at(result)

    def peaks(self, result: Result) -> list[tuple[int, float]]:
        """(most sent in one second, cap) of every probe batch the deployment kept."""
        evidence = ((result.details or {}).get("details") or {}).get("evidence") or {}
        batches = [
            *self.step(result, "probe").get("probes", []),
            *self.step(result, "verify").get("probes", []),
            *(evidence.get("probes") or []),
        ]
        return [(int(b["peak_per_second"]), float(b["rate_cap"])) for b in batches]

    def close(self) -> None:
        config, env = self.environment()
        stop_host(config, env)
        self.store.close()


def traffic(bench: Bench, rate: float) -> TrafficDriver | None:
    if rate <= 0:
        return None
    _config, env = bench.environment()
    assert isinstance(env.target, LocalTargetConfig)
    driver = TrafficDriver(f"http://{env.target.address}{TRAFFIC_PATH}", rate)
    driver.start()
    return driver


def healthy_case(root: Path, limit: str, rate: float, runs: int) -> Figures:
    """Seconds from the swap to the healthy verdict of 1.0.0 then 1.1.0 (each run)."""
    figures = Figures()
    bench = Bench(root)
    driver = traffic(bench, rate)
    try:
        # A long max_observation, so a slow verdict is measured rather than cut off.
        with overrides({OVERRIDE + "MAX_ERROR_RATE": limit, OVERRIDE + "MAX_OBSERVATION": "600"}):
            versions = ["1.0.0", "1.1.0"] * math.ceil(runs / 2)
            for version in versions[:runs]:
                result = bench.deploy(version)
                figures.peaks += bench.peaks(result)
                if result.exit_code:
                    # Printed as a miss (nan), never hidden: the figure did not reach a verdict.
                    figures.seconds.append(math.nan)
                    figures.notes.append(f"no verdict: {result.message[:120]}")
                    continue
                evidence = bench.step(result, "verify")["analysis"]["evidence"]
                figures.seconds.append(float(evidence["healthy_at"]) - bench.swapped_at(result))
                figures.notes.append(
                    f"{evidence['requests']} requests, {evidence['probe_requests']} probes"
                )
    finally:
        if driver is not None:
            driver.stop()
        bench.close()
    return figures


def regression_case(root: Path, rate: float, runs: int, before_swap: str) -> Figures:
    """1.2.0 over 1.1.0: seconds from the swap until production is back on 1.1.0 (or, with
    probes before the swap, seconds of probing until the staging slot was judged)."""
    figures = Figures()
    bench = Bench(root)
    driver = traffic(bench, rate)
    settings = {
        OVERRIDE + "PROBE__REQUESTS": PROBE_PATHS,
        OVERRIDE + "PROBE__BEFORE_SWAP": before_swap,
    }
    try:
        with overrides(settings):
            for version in ("1.0.0", "1.1.0"):
                if bench.deploy(version).exit_code:
                    raise SystemExit(f"{version} did not deploy")
            for _ in range(runs):
                result = bench.deploy("1.2.0")
                if result.exit_code != 4:
                    raise SystemExit(f"1.2.0: expected exit 4, got {result.message}")
                failed = (result.details or {}).get("step")
                figures.peaks += bench.peaks(result)
                if failed == "probe":
                    ev = (result.details or {}).get("details", {}).get("evidence", {})
                    seen = ev.get("verdict", {}).get("evidence", {}).get("observed_seconds")
                    figures.seconds.append(float(seen if seen is not None else math.nan))
                    figures.notes.append("caught on the staging slot before the swap")
                else:
                    figures.seconds.append(bench.back_after_swap(result))
                    figures.notes.append(f"caught by {failed} after the swap")
    finally:
        if driver is not None:
            driver.stop()
        bench.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0, help="live requests per second")
    parser.add_argument(
        "--only", choices=["healthy", "strict", "regressed", "before-swap"], action="append"
    )
    args = parser.parse_args()
    rows: list[tuple[str, str, Figures, Figures]] = []
    peaks: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cases = [
            ("healthy on staging (1 %), s after swap", "<= 30", "healthy-1", "0.01", None),
            ("healthy on 0.1 %, s after swap", "<= 120", "healthy-01", "0.001", None),
            ("5 % regression, s swap -> back", "<= 5", "regressed", None, "0"),
            ("5 % regression, s of probing before swap", "", "before-swap", None, "10"),
        ]
        wanted = {"healthy": "healthy-1", "strict": "healthy-01"}
        chosen = {wanted.get(o, o) for o in args.only} if args.only else None
        for title, goal, name, limit, before in cases:
            if chosen is not None and name not in chosen:
                continue
            measured = []
            for rate in (0.0, args.rate):
                root = base / f"{name}-{int(rate)}"
                if limit is not None:
                    figures = healthy_case(root, limit, rate, args.runs)
                else:
                    assert before is not None
                    figures = regression_case(root, rate, args.runs, before)
                peaks += figures.peaks
                measured.append(figures)
            rows.append((title, goal, measured[0], measured[1]))
    print(f"verification traffic: median of {args.runs} run(s); live traffic {args.rate:g} rps")
    print(f"{'case':<44} {'goal':>6} {'probes only':>12} {'live traffic':>13} {'ratio':>6}")
    for title, goal, probes_only, live in rows:
        ratio = probes_only.median() / live.median() if live.median() else math.nan
        print(
            f"{title:<44} {goal:>6} {probes_only.median():>12.2f} {live.median():>13.2f}"
            f" {ratio:>6.2f}"
        )
        print(f"{'':<44} {'':>6}   {'; '.join(probes_only.notes)} | {'; '.join(live.notes)}")
    worst = max((peak / cap for peak, cap in peaks), default=0.0)
    top = max(peaks, default=(0, 0.0), key=lambda p: p[0] / p[1] if p[1] else 0)
    print(
        f"probe rate: at most {top[0]} requests in one second against a cap of {top[1]:g}"
        f" ({worst:.0%} of the cap) over {len(peaks)} batches"
    )


if __name__ == "__main__":
    main()
