"""The azure target against the local fake Azure: turnout's own time, swap notice, rollback.

1. Own time per deployment: the azure target's stage (ensure_slot + OneDeploy + follow +
   record the version) and swap of a new version, through the official SDK clients, in
   this process. The fake runs in other threads, so the main thread's CPU time
   (time.thread_time) is turnout's own work; the rest of the wall time is waiting on
   Azure. Goal (issue): under 1 s per deployment.
2. Time to notice a completed swap: from the moment the fake's platform finished a swap
   to the moment `swap()` returned. Goal: within 2 s.
3. Swap to rollback: a `turnout deploy` of a release failing 5 % of requests, 100 req/s of
   live traffic, Application Insights with a 60 s ingestion delay (the provider waits 60 s
   per bin too): seconds from the end of the swap to the end of the swap back. This one
   takes a few minutes.

    python -m benchmarks.azure_deploy [--deploys 5] [--skip-rollback]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from tests.fakes.azure_app import app_package
from tests.fakes.azure_world import AzureWorld, running_azure, write_azure_config
from tests.support.azure_project import write_project
from turnout.model import Release
from turnout.targets.azure.target import AzureTarget
from turnout.targets.registry import create_target

GOAL_OWN_S = 1.0
GOAL_NOTICE_S = 2.0


def own_time(world: AzureWorld, folder: Path, deploys: int) -> None:
    """Parts 1 and 2."""
    os.environ.update(world.apply())
    config = write_azure_config(world, folder / "project", poll_interval=1.0)
    target = create_target(config, config.env("production"))
    assert isinstance(target, AzureTarget)
    server = world.server
    own, wall, notice = [], [], []
    try:
        for index in range(deploys + 1):
            version = f"1.{index}.0"
            package = app_package(folder / "build", version)
            cpu, started = time.thread_time(), time.perf_counter()
            target.ensure_slot("blue")
            target.deploy("blue", Release(version, package))
            target.swap("blue")
            returned = time.time()
            spent_cpu, spent_wall = time.thread_time() - cpu, time.perf_counter() - started
            finished = max(op.finished or 0.0 for op in server.swaps("Succeeded"))
            if index == 0:
                continue  # the first one pays for imports and connections
            own.append(spent_cpu)
            wall.append(spent_wall)
            notice.append(returned - finished)
    finally:
        target.close()
    own_median = statistics.median(own)
    print(
        f"own time per deployment (CPU of turnout's thread): median {own_median:.3f} s,"
        f" max {max(own):.3f} s over {len(own)} deployments;"
        f" ratio to the 1 s goal {own_median / GOAL_OWN_S:.2f}"
    )
    print(
        f"wall time per deployment (waiting on the fake Azure included): median"
        f" {statistics.median(wall):.2f} s"
    )
    notice_median = statistics.median(notice)
    print(
        f"completed swap noticed after: median {notice_median:.2f} s, max {max(notice):.2f} s;"
        f" ratio to the 2 s goal {notice_median / GOAL_NOTICE_S:.2f}"
    )


APPINSIGHTS = """
[environments.web.analysis]
provider = "appinsights"
min_observation = 0
max_observation = 600

[environments.web.analysis.appinsights]
workspace_id = "{workspace}"
endpoint = "{endpoint}"
step = 5
ingestion_delay = {delay}
"""


def rollback_time(world: AzureWorld, folder: Path, delay: float, rate: float) -> None:
    """Part 3."""
    server = world.server
    server.appinsights_delay = delay
    extra = APPINSIGHTS.format(workspace=server.workspace_id, endpoint=server.url, delay=delay)
    project = write_project(folder / "rollback", world, extra=extra)
    server.install(
        "production", app_package(folder / "build", "2.0.0"), {"TURNOUT_VERSION": "2.0.0"}
    )
    failing = app_package(folder / "build-failing", "2.1.0", error_every=20)
    (project.root / "packages").mkdir(parents=True, exist_ok=True)
    (project.root / "packages" / "app-2.1.0.zip").write_bytes(failing.read_bytes())
    stopping = threading.Event()

    def traffic() -> None:
        context = ssl.create_default_context(cafile=world.env["SSL_CERT_FILE"])
        with httpx.Client(proxy=server.proxy_url, verify=context, timeout=10) as client:
            next_at = time.monotonic()
            while not stopping.is_set():
                host = server.host_name("production")
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"https://{host}/api/rewards/status")
                next_at += 1 / rate
                time.sleep(max(0.0, next_at - time.monotonic()))

    workers = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
    rate /= len(workers)
    for worker in workers:
        worker.start()
    before = len(server.swaps())
    try:
        result = subprocess.run(
            project.command("deploy", "--env", project.env, "--version", "2.1.0", "--yes"),
            env=project.environ(),
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        stopping.set()
        for worker in workers:
            worker.join()
    swaps = server.swaps("Succeeded")[before:]
    if result.returncode != 4 or len(swaps) < 2:
        print(
            f"rollback run did not roll back (exit {result.returncode}):\n{result.stderr[-2000:]}"
        )
        return
    forward, back = swaps[0], swaps[1]
    assert forward.finished is not None and back.finished is not None
    gap = back.finished - forward.finished
    print(
        f"swap to rollback, 5 % errors at {rate * len(workers):.0f} req/s, App Insights"
        f" delay {delay:.0f} s: {gap:.1f} s ({gap - delay:.1f} s beyond the ingestion delay)"
    )


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--delay", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--skip-rollback", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="turnout-azure-bench-") as scratch:
        folder = Path(scratch)
        with running_azure(folder / "azure") as world:
            own_time(world, folder, options.deploys)
        if not options.skip_rollback:
            with running_azure(folder / "azure2") as world:
                rollback_time(world, folder, options.delay, options.rate)


if __name__ == "__main__":
    main()
