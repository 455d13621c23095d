"""The infrastructure phase on Azure Resource Manager: azure-mgmt-resource, unchanged, against
the fake Azure's deployments (what-if, PUT, status polling, operations, ARM's roll back)."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.azure_arm import FakeArm
from tests.fakes.azure_world import AzureWorld, running_azure
from tests.support.azure_project import AzureProject, write_project
from turnout.runbook.steps.infra_arm import deployment_name
from turnout.store import Store
from turnout.store.deployment_data import ArmDeploymentRecord, ArmRollbackRecord

TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "appName": {"type": "string"},
        "sku": {"type": "string", "defaultValue": "S1"},
        "release": {"type": "string"},
        "adminPassword": {"type": "securestring", "defaultValue": ""},
    },
    "resources": [
        {
            "type": "Microsoft.Web/serverfarms",
            "apiVersion": "2024-04-01",
            "name": "tesoro-plan",
            "properties": {"sku": "[parameters('sku')]"},
        },
        {
            "type": "Microsoft.Web/sites",
            "apiVersion": "2024-04-01",
            "name": "[parameters('appName')]",
            "properties": {"release": "[parameters('release')]"},
        },
    ],
    "outputs": {"webAppName": {"type": "string", "value": "[parameters('appName')]"}},
}
PARAMETERS = {"parameters": {"appName": {"value": "tesoro-production-app"}}}
INFRA = """
[environments.web.integrations.infra]
kind = "arm"
template = "infra/main.json"
parameters = "infra/production.parameters.json"
values = {{ release = "{{version}}" }}
resource_group = "{group}"
poll_interval = 0.1
expected_outputs = {{ webAppName = "tesoro-production-app" }}
expected_resources = [
    "Microsoft.Web/sites/tesoro-production-app",
    "Microsoft.Web/serverfarms/tesoro-plan",
]
{extra}
"""


class ArmProject:
    """A project whose `web` environment deploys infrastructure with an ARM template."""

    def __init__(self, root: Path, world: AzureWorld) -> None:
        self.arm = FakeArm(world.server)
        self.arm.seconds = 0.2
        self.world = world
        self.root = root
        self.project: AzureProject = self.write()
        (root / "infra").mkdir()
        (root / "infra" / "main.json").write_text(json.dumps(TEMPLATE))
        (root / "infra" / "production.parameters.json").write_text(json.dumps(PARAMETERS))

    def write(self, extra: str = "") -> AzureProject:
        """(Re)write turnout.toml with `extra` lines in the infra table."""
        infra = INFRA.format(group=self.world.server.resource_group, extra=extra)
        self.project = write_project(self.root, self.world, extra=infra)
        return self.project

    def deploy(self, version: str) -> tuple[int, str]:
        """`turnout deploy --type infra` (run by its entry point in this process, so the
        Azure SDK is imported once): exit code and its words."""
        self.project.package(version)
        done = self.project.read(
            "deploy", "--env", "web", "--version", version, "--type", "infra", "--yes"
        )
        return done.returncode, " ".join(done.stderr.split())

    def record(self, deployment_id: int) -> ArmDeploymentRecord:
        """The typed ARM record kept with a deployment."""
        with Store.open(self.root / ".turnout") as store:
            row = store.deployment(deployment_id)
        assert row is not None and row.data.arm_deployment is not None
        return row.data.arm_deployment


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[ArmProject]:
    """A fake Azure with ARM deployments and a project deploying a template to it."""
    with running_azure(tmp_path / "azure") as world:
        yield ArmProject(tmp_path / "project", world)


def test_deployment_name_is_fixed_allowed_and_short_enough() -> None:
    """The name is turnout-ENV-ID-VERSION in ARM's characters, at most 64 of them, the same
    every time, and two long versions keep different names."""
    assert deployment_name("production", 7, "1.4.0") == "turnout-production-7-1.4.0"
    assert deployment_name("production", 7, "1.4.0+build.5") == "turnout-production-7-1.4.0-build.5"
    long_a = deployment_name("production", 12345, "1.4.0-rc.1+" + "a" * 60)
    long_b = deployment_name("production", 12345, "1.4.0-rc.1+" + "b" * 60)
    assert len(long_a) <= 64 and len(long_b) <= 64 and long_a != long_b
    assert long_a == deployment_name("production", 12345, "1.4.0-rc.1+" + "a" * 60)


def test_plan_shows_what_if_and_deletes_refuse_until_allowed(arm: ArmProject) -> None:
    """`plan` prints ARM's what-if per resource; in Complete mode a resource the template does
    not name is a DELETE, which refuses the deployment (exit 3, nothing sent but the
    what-if) until allow_deletes = true lets it through."""
    arm.arm.add_resource("Microsoft.Web/serverfarms", "tesoro-plan", sku="B1")
    arm.arm.add_resource("Microsoft.Storage/storageAccounts", "tesorologs")
    project = arm.write('mode = "Complete"')
    project.package("1.0.0")
    shown = project.read("plan", "--env", "web", "--version", "1.0.0", "--type", "infra")
    text = " ".join(shown.stderr.split())
    assert shown.returncode == 0, shown.stderr
    assert "Create Microsoft.Web/sites/tesoro-production-app" in text
    assert "Modify Microsoft.Web/serverfarms/tesoro-plan ~ properties.sku" in text
    assert "DELETE Microsoft.Storage/storageAccounts/tesorologs" in text
    assert "deploy would be refused" in text
    # The gate line and the what-if both say which key lets it through.
    assert text.count("set allow_deletes = true in [environments.web.integrations.infra]") == 2

    code, said = arm.deploy("1.0.0")
    assert code == 3, said
    assert "deletes 1 resource(s)" in said and "nothing was changed" in said
    assert arm.arm.deployments == {}
    assert "Microsoft.Storage/storageAccounts/tesorologs" in arm.arm.resource_names()

    arm.write('mode = "Complete"\nallow_deletes = true')
    code, said = arm.deploy("1.0.0")
    assert code == 0, said
    assert arm.arm.resource_names() == {
        "Microsoft.Web/serverfarms/tesoro-plan",
        "Microsoft.Web/sites/tesoro-production-app",
    }


def test_incremental_deployment_validates_outputs_and_resources(
    arm: ArmProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy --type infra PUTs an Incremental deployment named turnout-web-1-VERSION with
    ARM's roll back to the last successful one and the secret parameter only in the
    request, follows it, checks its outputs and resources, and keeps it as a typed record;
    a wrong output is a person's call (exit 5)."""
    monkeypatch.setenv("TESORO_SQL_PASSWORD", "s3cret-Adm1n-pw")
    arm.write('secrets = { adminPassword = "env:TESORO_SQL_PASSWORD" }')
    code, said = arm.deploy("1.0.0")
    assert code == 0, said
    name = "turnout-web-1-1.0.0"
    assert arm.arm.puts(name) == 1
    sent = next(
        r.json() for r in arm.world.server.requests if r.method == "PUT" and name in r.path
    )["properties"]
    assert sent["mode"] == "Incremental"
    assert sent["onErrorDeployment"] == {"type": "LastSuccessful"}
    assert sent["parameters"]["release"] == {"value": "1.0.0"}
    assert sent["parameters"]["adminPassword"] == {"value": "s3cret-Adm1n-pw"}
    assert "s3cret-Adm1n-pw" not in said
    state = (arm.root / ".turnout" / "state.db").read_bytes()
    assert b"s3cret-Adm1n-pw" not in state
    record = arm.record(1)
    assert record.provisioning_state == "Succeeded"
    assert record.outputs == {"webAppName": "tesoro-production-app"}
    assert record.rollback is None

    toml = arm.root / "turnout.toml"
    toml.write_text(toml.read_text().replace('= "tesoro-production-app" }', '= "tesoro-web" }'))
    code, said = arm.deploy("1.1.0")
    assert code == 5, said
    assert "output 'webAppName' is 'tesoro-production-app', expected 'tesoro-web'" in said


def test_failed_deployment_names_the_resource_and_records_arm_roll_back(
    arm: ArmProject,
) -> None:
    """A resource ARM cannot deploy fails the step naming it and ARM's error; ARM redeploys
    the last successful deployment, recorded as a typed roll back; exit 4."""
    assert arm.deploy("1.0.0")[0] == 0
    arm.arm.failing["Microsoft.Web/sites/tesoro-production-app"] = (
        "InvalidParameter",
        "The parameter release has an invalid value.",
    )
    code, said = arm.deploy("1.1.0")
    assert code == 4, said
    assert (
        "Microsoft.Web/sites/tesoro-production-app: InvalidParameter: The parameter release"
        " has an invalid value." in said
    )
    assert "ARM redeployed turnout-web-1-1.0.0" in said
    record = arm.record(2)
    rollback = record.rollback
    assert isinstance(rollback, ArmRollbackRecord)
    assert (rollback.deployment_name, rollback.provisioning_state) == (
        "turnout-web-1-1.0.0",
        "Succeeded",
    )
    assert record.failures[0].code == "InvalidParameter"
    with Store.open(arm.root / ".turnout") as store:
        infra = next(s for s in store.steps(2) if s.name == "infra")
    assert (infra.outputs or {})["evidence"]["arm_deployment"]["rollback"]["deployment_name"] == (
        "turnout-web-1-1.0.0"
    )


def test_resume_after_a_kill_follows_the_same_deployment(arm: ArmProject) -> None:
    """turnout killed while ARM deploys: `resume` finds the deployment by its name and
    follows it to the end instead of starting another one."""
    arm.arm.gate.clear()  # ARM keeps the deployment running until the test lets it end
    arm.project.package("1.0.0")
    running = arm.project.start(
        "deploy", "--env", "web", "--version", "1.0.0", "--type", "infra", "--yes"
    )
    name = "turnout-web-1-1.0.0"
    deadline = time.monotonic() + 60
    while arm.arm.puts(name) == 0 and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert arm.arm.puts(name) == 1, running.communicate()[1]
    running.send_signal(signal.SIGKILL)
    running.wait()
    # Still running when resume looks (its observe, then its run); ARM ends it after that.
    looked = arm.arm.gets(name)

    def end_after_two_looks() -> None:
        while arm.arm.gets(name) < looked + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        arm.arm.gate.set()

    threading.Thread(target=end_after_two_looks, daemon=True).start()
    resumed = arm.project.read("resume", "--env", "web")
    assert resumed.returncode == 0, resumed.stderr
    assert f"following ARM deployment {name} started earlier (Running)" in resumed.stderr
    assert arm.arm.puts(name) == 1
    record = arm.record(1)
    assert record.name == name
    assert record.provisioning_state == "Succeeded"
    doctor = arm.project.read("doctor", "--env", "web")
    assert f"deployments readable; latest {name} (Succeeded)" in " ".join(doctor.stderr.split())


BAD = {
    "template not found": (
        ("infra/main.json", "infra/missing.json"),
        "environments.web.integrations.infra.template: infra/missing.json: not found",
    ),
    "template not JSON": (
        ("", ""),
        "environments.web.integrations.infra.template: infra/main.json: not valid JSON",
    ),
    "bicep without its CLI": (
        ('template = "infra/main.json"', 'template = "infra/main.bicep"'),
        "environments.web.integrations.infra.template: infra/main.bicep: a Bicep file needs"
        " the bicep CLI on PATH",
    ),
    "unknown parameter": (
        ('values = { release = "{version}" }', 'values = { release = "{version}", tier = 1 }'),
        "environments.web.integrations.infra.values: infra/main.json declares no parameter 'tier'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_template_settings_name_file_and_key(arm: ArmProject, case: str) -> None:
    """A template that cannot be read (or compiled: no bicep CLI here), or values it does
    not declare, refuse `plan` with exit 2 naming turnout.toml, the key and the file;
    nothing is sent."""
    (old, new), expected = BAD[case]
    (arm.root / "infra" / "main.bicep").write_text("param appName string\n")
    if case == "template not JSON":
        (arm.root / "infra" / "main.json").write_text('{"resources": [,]}')
    else:
        toml = arm.root / "turnout.toml"
        toml.write_text(toml.read_text().replace(old, new))
    arm.project.package("1.0.0")
    shown = arm.project.read("plan", "--env", "web", "--version", "1.0.0", "--type", "infra")
    text = " ".join(shown.stderr.split())
    assert shown.returncode == 2, shown.stderr
    assert str(arm.root / "turnout.toml") in text and expected in text
    assert "Traceback" not in shown.stderr
    assert not any("whatif" in r.path.lower() for r in arm.world.server.requests)


def test_missing_resource_group_is_named_by_check(arm: ArmProject) -> None:
    """An ARM infra table without its resource group: `check` names file and key, exit 2."""
    toml = arm.root / "turnout.toml"
    toml.write_text(
        toml.read_text().replace(f'resource_group = "{arm.world.server.resource_group}"', "")
    )
    checked = arm.project.read("check")
    assert checked.returncode == 2
    text = " ".join(checked.stderr.split())
    assert str(toml) in text
    assert "environments.web.integrations.infra.resource_group: required key is missing" in text
