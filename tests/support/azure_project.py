"""A turnout project whose environment is an App Service app on the fake Azure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.azure_world import AzureWorld, azure_target_toml, running_azure
from tests.support.in_process import turnout_in_process
from tests.support.local_fixtures import make_package

PROJECT = """
[app]
name = "tinyapp"
package = "packages/app-{{version}}.zip"

[checks.warmup]
requests = 2
interval = 0

[analysis]
provider = "none"
min_observation = 0

[policy]
enforce_window = false

[integrations.vcs]
tag = false
log_file = "deployments.log"
{extra}
"""


@dataclass
class AzureProject:
    """A project directory, the fake Azure it deploys to, and a way to run turnout."""

    root: Path
    world: AzureWorld
    env: str = "web"

    def package(self, version: str, *, crash: bool = False) -> Path:
        """The release package of the test app for `version`."""
        path = make_package(self.root / "build", version, crash=crash)
        target = self.root / "packages" / f"app-{version}.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        return target

    def command(self, *args: str) -> list[str]:
        """argv of a real turnout command against this project."""
        return [sys.executable, "-m", "turnout", *args, "--config", str(self.root / "turnout.toml")]

    def environ(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """The process environment: the fake Azure's variables plus `env`."""
        return {**self.world.apply(dict(os.environ)), "TURNOUT_USER": "tester", **(env or {})}

    def turnout(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run turnout in a subprocess and wait for it."""
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.environ(env),
            timeout=timeout,
            cwd=self.root,
            check=False,
        )

    def read(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that only reads (status, doctor) run in this process, with the same
        variables as `turnout()`: no process start-up, no second import of the Azure SDK."""
        variables = {**self.world.env, "TURNOUT_USER": "tester"}
        variables["PATH"] = self.world.apply()["PATH"]
        argv = [*args, "--config", str(self.root / "turnout.toml")]
        return turnout_in_process(argv, cwd=self.root, env=variables)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start turnout in the background."""
        return subprocess.Popen(
            self.command(*args),
            env=self.environ(env),
            cwd=self.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def deploy(
        self, version: str, *, env: dict[str, str] | None = None, crash: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """`turnout deploy` of a freshly built package."""
        self.package(version, crash=crash)
        return self.turnout("deploy", "--env", self.env, "--version", version, "--yes", env=env)

    def seed(self, version: str = "1.0.0") -> None:
        """Production already runs `version` (deployed before this test)."""
        self.world.server.install("production", self.package(version), {"TURNOUT_VERSION": version})

    def live(self) -> dict[str, str | None]:
        """Which version each slot's running app reports (asked of the processes)."""
        server = self.world.server
        return {name: server.version_in(name) for name in sorted(server.slot_names())}


def write_project(
    root: Path, world: AzureWorld, *, extra: str = "", **target: object
) -> AzureProject:
    """The project files for an azure environment `web`."""
    root.mkdir(parents=True, exist_ok=True)
    text = (
        PROJECT.format(extra=extra) + "\n" + azure_target_toml(world, environment="web", **target)
    )
    (root / "turnout.toml").write_text(text)
    return AzureProject(root, world)


@pytest.fixture
def azure_world(tmp_path: Path) -> Iterator[AzureWorld]:
    """A running fake Azure for the seed's production app."""
    with running_azure(tmp_path / "azure") as world:
        yield world


@pytest.fixture
def azure_project(tmp_path: Path, azure_world: AzureWorld) -> AzureProject:
    """A project deploying to the fake Azure."""
    return write_project(tmp_path / "project", azure_world)
