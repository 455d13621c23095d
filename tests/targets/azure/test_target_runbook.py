"""The runbook end to end on App Service: the official SDK clients against the fake Azure."""

from __future__ import annotations

import contextlib
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.fakes.azure_app import app_package
from tests.fakes.azure_server import ResourceDeployment
from tests.fakes.azure_world import AzureWorld
from tests.support.azure_project import (
    AzureProject,
    azure_project,
    azure_world,
    write_project,
)
from turnout.store import Store

__all__ = ["azure_project", "azure_world"]

ONLY_100 = '[{path = "/health", expect_json = {version = "1.0.0"}}]'


def test_release_swap_swap_back_and_rollback(azure_project: AzureProject) -> None:
    """Stage, warm-up, smoke, swap and verify on real HTTP; a failing release is swapped back;
    `turnout rollback` puts the previous version back."""
    project, server = azure_project, azure_project.world.server
    now = datetime.now(UTC)
    server.resource_deployments = [  # listed in no particular order, as ARM does
        ResourceDeployment("infra-2", now - timedelta(days=2)),
        ResourceDeployment("infra-3", now - timedelta(hours=1)),
        ResourceDeployment("infra-1", now - timedelta(days=9), "Failed"),
    ]
    project.seed("1.0.0")
    second = project.deploy("1.1.0")
    assert second.returncode == 0, second.stderr
    assert project.live() == {"production": "1.1.0", "blue": "1.0.0"}
    blue, production = server.settings_of("blue"), server.settings_of("production")
    # The version travels with the content; the warm-up path is set from the health path.
    assert production["TURNOUT_VERSION"] == "1.1.0"
    assert blue["TURNOUT_VERSION"] == "1.0.0"
    assert blue["WEBSITE_SWAP_WARMUP_PING_PATH"] == "/health"
    assert "WEBSITE_SWAP_WARMUP_PING_PATH" in server.sticky_names()
    with server.lock:
        swaps = [r for r in server.requests if r.path.lower().endswith("/slotsswap")]
    # Every swap names blue as the source and production as the target.
    assert swaps and all("/slots/blue/slotsswap" in r.path for r in swaps)
    assert all(r.json() == {"targetSlot": "production", "preserveVnet": True} for r in swaps)

    status = project.read("status", "--env", project.env, "--json")
    assert status.returncode == 0, status.stderr
    assert '"1.1.0"' in status.stdout
    with Store.open(project.root / ".turnout") as store:
        latest = store.deployments(project.env)[0]
        snapshot = next(s for s in store.steps(latest.id) if s.name == "snapshot")
    platform = (snapshot.outputs or {})["platform"]
    assert platform["latest_resource_group_deployment"]["name"] == "infra-3"
    assert platform["app_state"] == "Running"

    back = project.turnout("rollback", "--env", project.env)
    assert back.returncode == 0, back.stderr
    assert project.live() == {"production": "1.0.0", "blue": "1.1.0"}

    # 1.2.0 is healthy in its slot but fails production's checks: swapped back at once.
    failing = project.deploy("1.2.0", env={"TURNOUT__CHECKS__HEALTH": ONLY_100})
    assert failing.returncode == 4, failing.stderr
    assert project.live() == {"production": "1.0.0", "blue": "1.2.0"}
    assert len(server.swaps("Succeeded")) == 4


def test_failing_onedeploy_fails_the_stage_step(azure_project: AzureProject) -> None:
    """A OneDeploy whose app cannot start: the step fails with Kudu's reason; nothing swapped."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    result = project.deploy("1.1.0", crash=True)
    assert result.returncode == 4, result.stderr
    assert "OneDeploy" in result.stderr and "failed" in result.stderr
    assert "exited with code 3" in result.stderr
    assert project.live()["production"] == "1.0.0"
    assert server.swaps() == []


def test_swap_refused_with_417_is_a_failed_step_naming_it(azure_project: AzureProject) -> None:
    """The platform's warm-up ping fails (417): the deploy fails naming it, production unchanged."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    server.warmup_refused.add("blue")
    result = project.deploy("1.1.0")
    assert result.returncode == 4, result.stderr
    message = " ".join(result.stderr.split())
    assert "did not respond to http ping" in message and "417" in message
    assert "nothing moved: production runs 1.0.0" in message
    assert project.live() == {"production": "1.0.0", "blue": "1.1.0"}


APPINSIGHTS = """
[environments.web.analysis]
provider = "appinsights"
min_observation = 0
max_observation = 90

[environments.web.analysis.appinsights]
workspace_id = "{workspace}"
endpoint = "{endpoint}"
step = 1
ingestion_delay = {delay}
"""


class LiveTraffic:
    """Requests to production's host name through the front door, until stopped."""

    def __init__(self, world: AzureWorld, rate: float) -> None:
        self.world, self.rate = world, rate
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        server = self.world.server
        context = ssl.create_default_context(cafile=self.world.env["SSL_CERT_FILE"])
        with httpx.Client(proxy=server.proxy_url, verify=context, timeout=10) as client:
            while not self.stopping.wait(1 / self.rate):
                host = server.host_name("production")
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"https://{host}/api/rewards/status")

    def __enter__(self) -> LiveTraffic:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self.thread.join()


def test_regression_seen_in_app_insights_is_swapped_back(
    tmp_path: Path, azure_world: AzureWorld
) -> None:
    """Live traffic after the swap, read from Application Insights with its ingestion delay:
    a release failing 5 % of requests is swapped back automatically (exit 4)."""
    server = azure_world.server
    server.appinsights_delay = 1.0
    extra = APPINSIGHTS.format(workspace=server.workspace_id, endpoint=server.url, delay=2)
    project = write_project(tmp_path / "project", azure_world, extra=extra)
    server.install(
        "production", app_package(tmp_path / "build", "1.0.0"), {"TURNOUT_VERSION": "1.0.0"}
    )
    failing = app_package(tmp_path / "build", "1.1.0", error_every=20)
    (project.root / "packages").mkdir(parents=True, exist_ok=True)
    (project.root / "packages" / "app-1.1.0.zip").write_bytes(failing.read_bytes())
    with LiveTraffic(azure_world, rate=40):
        result = project.turnout("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    assert result.returncode == 4, result.stderr
    assert "metric analysis: regressed: error rate" in result.stderr
    assert project.live() == {"production": "1.0.0", "blue": "1.1.0"}
    with server.lock:
        served_new = [r for r in server.records if r.status == 500]
    assert served_new, "the new version served live traffic before it was swapped back"
