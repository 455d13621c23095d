"""Azure long-running operations, swap with preview and access, against the fake Azure."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.azure_server import AzureServer
from tests.fakes.azure_world import AzureWorld, azure_target_toml
from tests.support.azure_project import (
    AzureProject,
    azure_project,
    azure_world,
    write_project,
)
from tests.support.waiting import wait_until

__all__ = ["azure_project", "azure_world"]

SWAP_ACTION = "Microsoft.Web/sites/slots/slotsswap/action"


def test_slow_swap_is_followed_across_sigkill_and_resume(azure_project: AzureProject) -> None:
    """turnout killed while Azure swaps: resume follows the same operation to its end and
    verifies; no second swap is started."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    project.package("1.1.0")
    server.swap_gate.clear()  # the swap stays in progress until the test lets it finish
    running = project.start("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    try:

        def polling() -> bool:
            with server.lock:
                return any("/operationresults/" in r.path for r in server.requests)

        wait_until(polling, timeout=120, what="turnout polling the swap")
    finally:
        running.kill()
        running.communicate()
    assert [op.status for op in server.swaps()] == ["InProgress"]
    server.swap_gate.set()
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.live() == {"production": "1.1.0", "blue": "1.0.0"}
    assert [op.status for op in server.swaps()] == ["Succeeded"]


def test_onedeploy_is_followed_across_sigkill_and_resume(azure_project: AzureProject) -> None:
    """turnout killed while Kudu deploys: resume follows that deployment (no second upload)
    and the release goes live."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    project.package("1.1.0")
    server.build_gate.clear()  # the OneDeploy stays in Building until the test lets it go on
    running = project.start("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    try:

        def polling() -> bool:
            with server.lock:
                return any(r.path.startswith("/api/deployments/") for r in server.requests)

        wait_until(polling, timeout=120, what="turnout following the OneDeploy")
    finally:
        running.kill()
        running.communicate()
    server.build_gate.set()
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.live() == {"production": "1.1.0", "blue": "1.0.0"}
    with server.lock:
        uploads = [r for r in server.requests if r.path == "/api/publish"]
    assert len(uploads) == 1


def test_swap_with_preview_applies_production_settings_first(
    tmp_path: Path, azure_world: AzureWorld
) -> None:
    """swap = "preview": production's slot settings are applied to blue, then the swap
    completes; sticky settings stay with their slot."""
    project = write_project(tmp_path / "project", azure_world, swap="preview")
    server = azure_world.server
    project.seed("1.0.0")
    server.set_setting("production", "DATABASE_URL", "postgres://production", sticky=True)
    result = project.deploy("1.1.0")
    assert result.returncode == 0, result.stderr
    with server.lock:
        paths = [r.path.lower() for r in server.requests]
        applied = next(i for i, p in enumerate(paths) if p.endswith("/slots/blue/applyslotconfig"))
        swapped = next(i for i, p in enumerate(paths) if p.endswith("/slots/blue/slotsswap"))
        assert applied < swapped
    assert server.settings_of("production")["DATABASE_URL"] == "postgres://production"
    assert "DATABASE_URL" not in server.settings_of("blue")
    assert project.live() == {"production": "1.1.0", "blue": "1.0.0"}


def _prepare_green_for_production(server: AzureServer) -> None:
    """A person starts a swap with preview of another slot (phase 1) on the same app."""
    server.add_slot("green")
    server.prepare_swap("green", "production")


def test_pending_preview_of_another_slot_is_refused_before_anything(
    azure_project: AzureProject,
) -> None:
    """Production prepared for a swap with another slot: the pre-conditions refuse (exit 3),
    naming it, before anything is staged."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    _prepare_green_for_production(server)
    result = project.deploy("1.1.0")
    assert result.returncode == 3, result.stderr
    assert "prepared for a swap with slot green" in " ".join(result.stderr.split())
    assert "blue" not in server.slot_names()


def test_preview_started_during_the_deploy_makes_the_swap_fail_with_409(
    azure_project: AzureProject,
) -> None:
    """A swap with preview started by someone while turnout stages: Azure's 409 fails the
    swap step, named, and nothing moves."""
    project, server = azure_project, azure_project.world.server
    project.seed("1.0.0")
    server.on_publish = lambda: _prepare_green_for_production(server)
    result = project.deploy("1.1.0")
    assert result.returncode == 4, result.stderr
    message = " ".join(result.stderr.split())
    assert "409" in message and "prepared for swap with slot 'green'" in message
    assert "nothing moved: production runs 1.0.0" in message
    assert project.live()["production"] == "1.0.0"


def test_missing_swap_permission_is_named_by_doctor_and_deploy(azure_project: AzureProject) -> None:
    """A credential without the swap action: doctor names the action (exit 3); a deploy is
    refused at its pre-conditions naming it (exit 3), before anything changed."""
    project, world = azure_project, azure_project.world
    project.seed("1.0.0")
    world.server.add_principal("token-limited", not_actions=[SWAP_ACTION])
    world.use_token("token-limited")
    doctor = project.read("doctor", "--env", project.env, "--json")
    assert doctor.returncode == 3, doctor.stderr
    probes = {p["name"]: p for p in json.loads(doctor.stdout)["probes"]}
    assert probes["azure credential"]["ok"] and probes["azure app"]["ok"]
    assert not probes["azure permissions"]["ok"]
    assert SWAP_ACTION in probes["azure permissions"]["detail"]
    result = project.deploy("1.1.0")
    assert result.returncode == 3, result.stderr
    assert SWAP_ACTION in " ".join(result.stderr.split())
    assert world.server.slot_names() == {"production"}  # no slot was even created
    assert project.live()["production"] == "1.0.0"


def test_doctor_passes_with_full_access(azure_project: AzureProject) -> None:
    """With a Contributor-like credential every Azure probe passes and says what it saw."""
    project = azure_project
    doctor = project.read("doctor", "--env", project.env, "--json")
    probes = {p["name"]: p for p in json.loads(doctor.stdout)["probes"]}
    for name in ("azure credential", "azure app", "azure permissions"):
        assert probes[name]["ok"], probes[name]
    assert "does not exist yet" in probes["azure app"]["detail"]


def test_staging_environment_app_is_read_in_the_preconditions(
    tmp_path: Path, azure_world: AzureWorld
) -> None:
    """Runbook 1.3 "confirm staging environment healthy": the staging environment's app is
    read from Azure; one that cannot be read refuses the deploy (exit 3) before anything."""
    staging = azure_target_toml(azure_world, environment="staging", app="tesoro-staging-app-q1w2")
    extra = '\n[environments.web]\nstaging_environment = "staging"\n' + staging
    project = write_project(tmp_path / "project", azure_world, extra=extra)
    project.seed("1.0.0")
    result = project.deploy("1.1.0")
    assert result.returncode == 3, result.stderr
    assert "staging environment's app tesoro-staging-app-q1w2" in " ".join(result.stderr.split())
    assert "blue" not in azure_world.server.slot_names()
