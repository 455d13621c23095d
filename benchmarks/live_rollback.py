"""Time from the swap to production being back on the old version, on live traffic.

On the local target with the tesoro sample app and steady real traffic through
the router (100 requests/s by default), 1.1.0 is deployed once, then 1.2.0 (which
fails about 5 % of transaction requests) is deployed `--runs` times; each time
turnout must judge it regressed and swap back. Printed per run and as medians:
when the evidence crossed the threshold and when production was back on 1.1.0,
both in seconds after the swap. Goal: swapped back within 5 s of the swap.

    python -m benchmarks.live_rollback [--runs 5] [--rate 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from turnout.config import load_config
from turnout.config.targets import LocalTargetConfig
from turnout.demo.story import TRAFFIC_PATH, prepare_workdir
from turnout.demo.traffic import TrafficDriver
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.local import start_host, stop_host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(prepare_workdir(Path(tmp) / "live"))
        env = config.env("staging")
        store = Store.open(config.state_dir)
        start_host(config, env)
        assert isinstance(env.target, LocalTargetConfig)
        driver = TrafficDriver(f"http://{env.target.address}{TRAFFIC_PATH}", args.rate)
        driver.start()
        crossed: list[float] = []
        back: list[float] = []
        try:
            for version in ("1.0.0", "1.1.0"):
                result = Engine(config, env, store).deploy(
                    Release(version, config.resolve_path(f"dist/{version}")),
                    DeploymentType.APP,
                    "bench",
                )
                if result.exit_code:
                    raise SystemExit(f"{version}: {result.message}")
            print(f"1.2.0 rolled back on live traffic at {args.rate:g} requests/s")
            print(f"{'run':>3} {'crossed after swap s':>21} {'back on 1.1.0 after swap s':>27}")
            for run in range(1, args.runs + 1):
                result = Engine(config, env, store).deploy(
                    Release("1.2.0", config.resolve_path("dist/1.2.0")),
                    DeploymentType.APP,
                    "bench",
                )
                if result.status is not DeploymentStatus.ROLLED_BACK:
                    raise SystemExit(f"run {run}: expected a rollback, got {result.message}")
                swap = next(s for s in store.steps(result.deployment_id) if s.name == "swap")
                swapped_at = float(swap.outputs["swapped_at"])
                assert swap.finished_at is not None
                back.append(swap.finished_at.timestamp() - swapped_at)
                evidence = result.details.get("details", {}).get("evidence", {})
                crossed.append(float(evidence.get("crossed_after_swap_s", float("nan"))))
                print(f"{run:>3} {crossed[-1]:>21.2f} {back[-1]:>27.2f}")
        finally:
            driver.stop()
            stop_host(config, env)
            store.close()
    print(
        f"median: crossed {statistics.median(crossed):.2f} s, back on 1.1.0"
        f" {statistics.median(back):.2f} s after the swap (goal: within 5 s)"
    )


if __name__ == "__main__":
    main()
