"""Build throwaway turnout projects for tests: a configuration, packages and a fake target."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.fake_target import fake_target_slots, seed_fake_target
from tests.support.in_process import turnout_in_process

# The fake target's state file, relative to the project (its `state_file` setting).
FAKE_STATE_FILE = "fake-target.json"

KILL_AT = Path(__file__).with_name("kill_at.py")
"""The entry script that runs `turnout` with a checkpoint killing it at a named point."""

FAKE_PROJECT = """
[app]
name = "shop"
package = "packages/{{version}}"

[checks.warmup]
requests = {warmup_requests}
interval = {warmup_interval}

[analysis]
provider = "none"
min_observation = 0

[policy]
enforce_window = false

[integrations.vcs]
tag = false
log_file = "deployments.log"

[environments.{env}]
target = {{ kind = "fake", state_file = "{state_file}" }}
"""


@dataclass
class Project:
    """A project directory with a fake-target environment."""

    root: Path
    env: str = "web"

    @property
    def config(self) -> Path:
        """The turnout.toml path."""
        return self.root / "turnout.toml"

    def add_package(self, version: str) -> Path:
        """A release package directory for a version."""
        folder = self.root / "packages" / version
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "VERSION").write_text(version)
        return folder

    def set_slots(self, slots: dict[str, str | None], unhealthy: list[str] | None = None) -> None:
        """Start from a fresh fake target whose slots run these versions (the state before a
        test), set through the target's API."""
        seed_fake_target(self.root / FAKE_STATE_FILE, slots, unhealthy)

    def slots(self) -> dict[str, str | None]:
        """Which version each of the fake target's slots runs now, asked of the target."""
        return fake_target_slots(self.root / FAKE_STATE_FILE)

    def read(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a `turnout` command that only reads (status, history, plan) in this process, as
        the same user in the same directory as `turnout()`, without a process start-up."""
        argv = [*args, "--config", str(self.config)]
        variables = {"TURNOUT_USER": "tester", **(env or {})}
        return turnout_in_process(argv, cwd=self.root, env=variables)

    def command(self, *args: str) -> list[str]:
        """The argv of a real `turnout` command against this project."""
        return [sys.executable, "-m", "turnout", *args, "--config", str(self.config)]

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `turnout` in the background (output captured), e.g. to race or kill it."""
        environ = {**os.environ, "TURNOUT_USER": "tester", **(env or {})}
        return subprocess.Popen(
            self.command(*args),
            env=environ,
            cwd=self.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def turnout(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        kill_at: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `turnout` command in a subprocess against this project; with
        `kill_at` (`before:swap`, `undo:migrate`, ...) the process SIGKILLs itself there."""
        environ = {**os.environ, "TURNOUT_USER": "tester", **(env or {})}
        argv = self.command(*args)
        if kill_at is not None:
            argv = [sys.executable, str(KILL_AT), kill_at, *argv[3:]]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=environ,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )


def fake_project(
    root: Path,
    *,
    env: str = "web",
    warmup_requests: int = 1,
    warmup_interval: float = 0.0,
    extra: str = "",
) -> Project:
    """Write a project whose environment runs on the file-backed fake target."""
    root.mkdir(parents=True, exist_ok=True)
    text = FAKE_PROJECT.format(
        env=env,
        warmup_requests=warmup_requests,
        warmup_interval=warmup_interval,
        state_file=FAKE_STATE_FILE,
    )
    (root / "turnout.toml").write_text(text + extra)
    project = Project(root, env)
    for version in ("1.0.0", "1.1.0"):
        project.add_package(version)
    return project
