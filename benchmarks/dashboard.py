"""How soon the dashboard shows a step's transition, and what 100 viewers cost it.

A real `turnout dashboard` process serves a project on the fake target whose store holds a
deployment with a long plan. This script writes journal transitions into the store (as the
engine does: `record_step`, its own transaction) and measures:

1. browser: the time from each committed transition to its row appearing in Debian's
   Chromium (a MutationObserver in the page stamps the moment; same machine clock), as
   median and p99;
2. viewers: 100 server-sent-event streams open at once (httpx, one connection each) while
   transitions are written every half second: the time from each transition to each
   viewer's receipt of the snapshot (median, p99), and the dashboard process's CPU use
   (from /proc: user + system time over wall time), idle with 100 viewers and while
   updating them.

The issue names no reference figure; each latency is also given as a ratio to the store's
poll interval (0.2 s), the floor the design sets: a ratio near 1 means the time is spent
waiting for the next look, not rendering or sending.

    python -m benchmarks.dashboard [--transitions 40] [--viewers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.support.chromium_args import ARGS, CHROMIUM
from tests.support.project import fake_project
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.records import NewDeployment

TURNOUT = [sys.executable, "-m", "turnout"]
POLL_S = 0.2
STEPS = [f"step-{n:03d}" for n in range(200)]
_URL = re.compile(r"dashboard on (\S+)")
OBSERVE = """
window.__seen = {};
new MutationObserver(() => {
  document.querySelectorAll('tr.st-running').forEach(row => {
    const step = row.dataset.step;
    if (!(step in window.__seen)) window.__seen[step] = performance.timeOrigin + performance.now();
  });
}).observe(document.body, {subtree: true, childList: true});
"""


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_dashboard(config: Path) -> tuple[subprocess.Popen[str], str]:
    """The dashboard on a free port, and its URL."""
    process = subprocess.Popen(
        [*TURNOUT, "dashboard", "--listen", "127.0.0.1:0", "--config", str(config)],
        cwd=config.parent,
        text=True,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    found = _URL.search(process.stderr.readline())
    assert found, "the dashboard did not start"
    return process, found.group(1).rstrip("/")


def browser_latency(store: Store, deployment: int, url: str, count: int) -> list[float]:
    """Seconds from each transition's commit to its row shown running in Chromium."""
    latencies = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{url}/env/web")
        page.wait_for_selector("#stream-state.live")
        page.evaluate(OBSERVE)
        for step in STEPS[:count]:
            committed = time.time()
            store.record_step(deployment, step, "running")
            page.wait_for_function(f"'{step}' in window.__seen", timeout=10_000)
            shown = page.evaluate(f"window.__seen['{step}']") / 1000
            latencies.append(shown - committed)
            store.record_step(deployment, step, "succeeded")
            time.sleep(0.3)  # transitions apart, as a real deployment's are
        browser.close()
    return latencies


async def _viewer(
    url: str, arrivals: list[float], ready: asyncio.Event, started: list[int]
) -> None:
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{url}/events?page=env%3Aweb") as stream,
    ):
        started.append(1)
        async for line in stream.aiter_lines():
            if line.startswith("event: snapshot"):
                arrivals.append(time.time())
                ready.set()


async def many_viewers(
    store: Store, deployment: int, url: str, pid: int, viewers: int, count: int
) -> tuple[list[float], float, float]:
    """Latencies of every viewer for every transition, CPU share idle and while updating."""
    arrivals: list[list[float]] = [[] for _ in range(viewers)]
    started: list[int] = []
    events = [asyncio.Event() for _ in range(viewers)]
    tasks = [
        asyncio.create_task(_viewer(url, arrivals[n], events[n], started)) for n in range(viewers)
    ]
    await asyncio.gather(*(event.wait() for event in events))  # every first snapshot in
    await asyncio.sleep(1.0)
    cpu, wall = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(5.0)
    idle = (cpu_seconds(pid) - cpu) / (time.monotonic() - wall)
    for received in arrivals:
        received.clear()
    latencies: list[float] = []
    cpu, wall = cpu_seconds(pid), time.monotonic()
    for step in STEPS[100 : 100 + count]:
        for received in arrivals:
            received.clear()
        committed = time.time()
        await asyncio.to_thread(store.record_step, deployment, step, "running")
        deadline = time.monotonic() + 10
        while any(not r for r in arrivals) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        latencies.extend(r[0] - committed for r in arrivals if r)
        await asyncio.sleep(0.5)
    busy = (cpu_seconds(pid) - cpu) / (time.monotonic() - wall)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, idle, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=int, default=40)
    parser.add_argument("--viewers", type=int, default=100)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = fake_project(Path(folder) / "shop")
        store = Store.open(project.root / ".turnout")
        row = store.create_deployment(
            NewDeployment(
                environment="web",
                version="1.1.0",
                type=DeploymentType.APP,
                status=DeploymentStatus.RUNNING,
                deployer="bench",
            )
        )
        store.write_plan(row.id, STEPS)
        process, url = start_dashboard(project.config)
        try:
            shown = browser_latency(store, row.id, url, options.transitions)
            received, idle, busy = asyncio.run(
                many_viewers(store, row.id, url, process.pid, options.viewers, options.transitions)
            )
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            store.close()
    print(f"transition -> shown in Chromium ({len(shown)} transitions):")
    median = statistics.median(shown)
    print(
        f"  median {median * 1000:.0f} ms, p99 {p99(shown) * 1000:.0f} ms"
        f"  ({median / POLL_S:.2f}x the {POLL_S * 1000:.0f} ms store poll)"
    )
    print(f"{options.viewers} viewers, transition -> snapshot received ({len(received)} receipts):")
    median = statistics.median(received)
    print(
        f"  median {median * 1000:.0f} ms, p99 {p99(received) * 1000:.0f} ms"
        f"  ({median / POLL_S:.2f}x the store poll)"
    )
    print(
        f"  dashboard CPU: {idle * 100:.1f} % of one core idle with {options.viewers} viewers,"
        f" {busy * 100:.1f} % while sending a snapshot to each every 0.5 s"
    )


if __name__ == "__main__":
    main()
