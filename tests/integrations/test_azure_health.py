"""Azure Service Health and Resource Health as an incident source, against the fake Azure
with the App Service target's own credential (DefaultAzureCredential through `az`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.azure_world import AzureWorld, running_azure, write_azure_config
from tests.support.azure_project import write_project
from turnout.config import LoadedConfig
from turnout.errors import GateFailed
from turnout.integrations.incidents import active_incidents, split_unknown
from turnout.policy.flags import DeploymentFlags
from turnout.policy.windows import decide_window, evaluate_window
from turnout.store import Store

# A Tuesday morning in Europe: the calendar alone says best.
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = """
[policy]
timezone = "Europe/Amsterdam"
"""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorld]:
    """The fake Azure, with this process pointed at it as the target's credential is."""
    with running_azure(tmp_path / "azure") as running:
        for key, value in running.apply().items():
            monkeypatch.setenv(key, value)
        yield running


def _config(world: AzureWorld, tmp_path: Path, on_unknown: str = "block") -> LoadedConfig:
    database = (
        f"/subscriptions/{world.server.subscription}/resourceGroups/"
        f"{world.server.resource_group}/providers/Microsoft.Sql/servers/sql1/databases/shop"
    )
    extra = f"""
[environments.production.integrations.incidents.azure]
resources = ["{database}"]
on_unknown = "{on_unknown}"
"""
    return write_azure_config(world, tmp_path / "project", POLICY + extra)


def test_a_service_issue_in_the_apps_region_freezes_production_and_can_be_named(
    world: AzureWorld, tmp_path: Path, sqlite_store: Store
) -> None:
    """An active App Service issue in West Europe is a fired freeze naming the event; events
    elsewhere, resolved or on other services are not; an emergency naming it proceeds."""
    server = world.server
    server.add_health_event("QK7T-1P8", "App Service 5xx in West Europe")
    server.add_health_event("OTHER-REGION", "Slow starts", region="East US")
    server.add_health_event("RESOLVED-1", "Old outage", status="Resolved")
    server.add_health_event("COSMOS-1", "Cosmos DB latency", service="Azure Cosmos DB")
    server.add_health_event(
        "MAINT-9", "SQL maintenance", event_type="PlannedMaintenance", service="SQL Database"
    )
    config = _config(world, tmp_path)
    env = config.env("production")
    verdict = evaluate_window(config, env, sqlite_store, AT)
    refs = [rule.ref for rule in verdict.incident_rules]
    assert refs == ["azure#QK7T-1P8", "azure#MAINT-9"], "three pages, two concerning events"
    assert verdict.kind.value == "frozen"
    [issue] = [r for r in verdict.incident_rules if r.ref == "azure#QK7T-1P8"]
    assert "Azure service issue: App Service 5xx in West Europe" in issue.reason
    normal = decide_window(env, verdict, DeploymentFlags(deployer="alice"))
    assert not normal.ok and "--fixes-incident QK7T-1P8" in normal.message
    fixing = DeploymentFlags(
        deployer="alice",
        emergency=True,
        reason="hotfix",
        fixes_incidents=("QK7T-1P8", "azure#MAINT-9"),
    )
    assert decide_window(env, verdict, fixing).ok
    assert any("/providers/Microsoft.ResourceHealth/events" in r.path for r in server.requests)


def test_a_degraded_app_or_database_counts_as_an_incident(
    world: AzureWorld, tmp_path: Path, sqlite_store: Store
) -> None:
    """Resource Health saying the database is Degraded is an active Azure incident."""
    config = _config(world, tmp_path)
    env = config.env("production")
    assert active_incidents(config, env, sqlite_store) == []
    settings = env.integrations.incidents.azure
    assert settings is not None
    [database] = settings.resources
    world.server.availability[database.lower()] = "Degraded"
    [found] = active_incidents(config, env, sqlite_store)
    assert (found.source, found.id) == ("azure", "availability:shop")
    assert found.title.startswith("Azure reports shop Degraded")


def test_an_unreachable_status_source_blocks_as_unknown(
    world: AzureWorld, tmp_path: Path, sqlite_store: Store
) -> None:
    """Resource Health down, `on_unknown = "block"`: the gate refuses saying it is unknown."""
    world.server.health_down = True
    config = _config(world, tmp_path)
    with pytest.raises(GateFailed) as refused:
        evaluate_window(config, config.env("production"), sqlite_store, AT)
    assert "cannot tell whether an incident is active on production" in refused.value.message
    assert "HTTP 503" in refused.value.message and "status unknown" in refused.value.message


def test_an_unreachable_status_source_that_warns_is_shown_not_taken_for_no_incident(
    world: AzureWorld, tmp_path: Path, sqlite_store: Store
) -> None:
    """`on_unknown = "warn"`: the verdict allows, and shows the unknown source as a rule."""
    world.server.health_down = True
    config = _config(world, tmp_path, on_unknown="warn")
    verdict = evaluate_window(config, config.env("production"), sqlite_store, AT)
    assert verdict.allows and verdict.incident_rules == []
    [unknown] = [r for r in verdict.rules if r.rule == "incidents.unknown"]
    assert unknown.ref == "azure#unknown" and "HTTP 503" in unknown.reason
    assert "unknown" in unknown.reason
    incidents, sources = split_unknown(
        active_incidents(config, config.env("production"), sqlite_store)
    )
    assert incidents == [] and [s.source for s in sources] == ["azure"]


def test_window_shows_the_azure_event_as_a_fired_rule(world: AzureWorld, tmp_path: Path) -> None:
    """`turnout window` (turnout.api.window) lists the Azure freeze naming the event."""
    from turnout import api

    world.server.add_health_event("QK7T-1P8", "App Service 5xx in West Europe")
    config = _config(world, tmp_path)
    result = api.window("production", at=AT, config=config.path)
    rules = result.to_dict()["rules"]
    [rule] = [r for r in rules if r.get("ref") == "azure#QK7T-1P8"]
    assert rule["rule"] == "freeze.incident" and rule["effect"] == "frozen"
    assert "App Service 5xx in West Europe" in rule["reason"]


HEALTH = """
[integrations.incidents.azure]
on_unknown = "{on_unknown}"
"""


def test_deploy_refuses_during_an_azure_service_issue_naming_it(tmp_path: Path) -> None:
    """`turnout deploy` on the App Service target stops at its gate naming the Azure event,
    and nothing reaches the app."""
    with running_azure(tmp_path / "azure") as world:
        project = write_project(
            tmp_path / "project", world, extra=HEALTH.format(on_unknown="block")
        )
        project.seed("1.0.0")
        world.server.add_health_event("QK7T-1P8", "App Service 5xx in West Europe")
        done = project.deploy("1.1.0")
        assert done.returncode != 0, done.stdout
        output = done.stdout + done.stderr
        assert "azure#QK7T-1P8" in output and "--fixes-incident QK7T-1P8" in output
        assert project.live()["production"] == "1.0.0"
        assert not any("/api/publish" in r.path for r in world.server.requests)


def test_deploy_warns_of_an_unknown_azure_status_and_goes_on(tmp_path: Path) -> None:
    """Resource Health down with `on_unknown = "warn"`: the deployment says Azure's status
    is unknown, and proceeds."""
    with running_azure(tmp_path / "azure") as world:
        project = write_project(tmp_path / "project", world, extra=HEALTH.format(on_unknown="warn"))
        project.seed("1.0.0")
        world.server.health_down = True
        done = project.deploy("1.1.0")
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "incident source azure unknown" in output
        assert project.live()["production"] == "1.1.0"


def test_doctor_probes_azure_service_health(tmp_path: Path) -> None:
    """doctor reports Resource Health answering, and fails the probe when it does not."""
    with running_azure(tmp_path / "azure") as world:
        project = write_project(tmp_path / "project", world, extra=HEALTH.format(on_unknown="warn"))
        done = project.read("doctor", "--env", project.env, "--json")
        probes = {p["name"]: p for p in json.loads(done.stdout)["probes"]}
        assert probes["azure service health"]["ok"], probes
        world.server.health_down = True
        done = project.read("doctor", "--env", project.env, "--json")
        probe = {p["name"]: p for p in json.loads(done.stdout)["probes"]}["azure service health"]
        assert not probe["ok"] and "HTTP 503" in probe["detail"]
