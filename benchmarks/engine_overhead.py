"""The engine's own time per step (journal writes included) on SQLite and PostgreSQL.

Runs app deployments against the in-memory fake target, whose operations take
no time, and subtracts the time spent inside the steps themselves. Goal: under
5 ms per step on SQLite and under 15 ms on PostgreSQL.

    python -m benchmarks.engine_overhead [--deployments 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.postgres_server import start_postgres
from tests.support.project import fake_project
from turnout.config import load_config
from turnout.model import DeploymentType, Release
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.fake import FakeTarget


def measure(store: Store, root: Path, deployments: int) -> tuple[list[float], list[float], int]:
    """Per deployment: engine overhead per step (ms) and total wall time (ms)."""
    project = fake_project(root)
    config = load_config(project.config)
    env = config.env(project.env)
    target = FakeTarget(env.name)
    target.ensure_slot("blue")
    per_step: list[float] = []
    totals: list[float] = []
    steps = 0
    for index in range(deployments):
        version = "1.0.0" if index % 2 == 0 else "1.1.0"
        engine = Engine(config, env, store, target_factory=lambda: target)
        started = time.perf_counter()
        result = engine.deploy(
            Release(version, project.root / "packages" / version), DeploymentType.APP, "bench"
        )
        total = time.perf_counter() - started
        if result.exit_code != 0:
            raise SystemExit(f"deployment failed: {result.message}")
        steps = len(engine.step_seconds)
        overhead = total - sum(engine.step_seconds.values())
        per_step.append(overhead / steps * 1000)
        totals.append(total * 1000)
    return per_step, totals, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Store.open(Path(tmp) / "sqlite" / ".turnout")
        rows.append(("SQLite", *measure(sqlite, Path(tmp) / "sqlite", args.deployments), 5.0))
        sqlite.close()
        server = start_postgres()
        try:
            server.create_database("bench")
            pg = Store.open(Path(tmp), url=server.url("bench"))
            rows.append(("PostgreSQL", *measure(pg, Path(tmp) / "pg", args.deployments), 15.0))
            pg.close()
        finally:
            server.stop()
    print(f"engine overhead per step, {args.deployments} app deployments on the fake target")
    print(
        f"{'store':<11} {'steps':>5} {'median ms/step':>15} {'p90 ms/step':>12}"
        f" {'median deploy ms':>17} {'goal ms/step':>13}"
    )
    for name, per_step, totals, steps, goal in rows:
        p90 = statistics.quantiles(per_step, n=10)[-1]
        print(
            f"{name:<11} {steps:>5} {statistics.median(per_step):>15.2f} {p90:>12.2f}"
            f" {statistics.median(totals):>17.1f} {goal:>13.1f}"
        )


if __name__ == "__main__":
    main()
