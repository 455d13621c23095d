"""Fixtures for the local target tests: packages of a tiny app, configs, a running host."""

from __future__ import annotations

import json
import shutil
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.targets.local import LocalTarget, start_host, stop_host

APP_SOURCE = Path(__file__).parent / "local_app"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_package(
    folder: Path,
    version: str,
    *,
    crash: bool = False,
    hang: bool = False,
    build: str = "",
    as_zip: bool = True,
) -> Path:
    """A package of the test app that reports `version` (a zip file, or a directory).

    `crash`: it exits at start; `hang`: it never listens; `build`: another build of the
    same version (different content)."""
    suffix = "-crash" * crash + "-hang" * hang + (f"-build-{build}" if build else "")
    tree = folder / f"app-{version}{suffix}"
    if not tree.exists():
        shutil.copytree(APP_SOURCE, tree, ignore=shutil.ignore_patterns("__pycache__"))
        (tree / "app" / "VERSION").write_text(version)
        if crash:
            (tree / "app" / "CRASH").write_text("1")
        if hang:
            (tree / "app" / "HANG").write_text("1")
        if build:
            (tree / "app" / "BUILD").write_text(build)
    if not as_zip:
        return tree
    archive = tree.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(tree.rglob("*")):
            zipped.write(path, path.relative_to(tree).as_posix())
    return archive


def write_config(folder: Path, **target: object) -> LoadedConfig:
    """A turnout.toml with a `production` local-target environment on a free loopback port."""
    env = "production"
    values: dict[str, object] = {
        "kind": "local",
        "address": f"127.0.0.1:{free_port()}",
        "command": "python -m app",
        "drain_timeout": 5.0,
        "stop_grace": 3.0,
        "start_timeout": 15.0,
        "health_interval": 0.5,
    }
    values.update(target)
    lines = ["[app]", 'name = "tinyapp"', "", f"[environments.{env}.target]"]
    for key, value in values.items():
        if isinstance(value, dict):
            continue
        if isinstance(value, list):
            lines.append(f"{key} = {json.dumps(value)}")  # a TOML array of strings
            continue
        text = f'"{value}"' if isinstance(value, str) else str(value).lower()
        lines.append(f"{key} = {text if not isinstance(value, float) else value}")
    for key, value in values.items():
        if isinstance(value, dict):
            lines.append(f"[environments.{env}.target.{key}]")
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict):
                    inner = ", ".join(f'{k} = "{v}"' for k, v in subvalue.items())
                    lines.append(f"{sub} = {{ {inner} }}")
                else:
                    lines.append(f'{sub} = "{subvalue}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "turnout.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_config(path)


@dataclass
class Host:
    """A running slot host and the target client that talks to it."""

    config: LoadedConfig
    env: EnvironmentConfig
    target: LocalTarget
    folder: Path

    def package(self, version: str, **options: Any) -> Path:
        """A package of the test app for `version`."""
        return make_package(self.folder / "packages", version, **options)

    def restart(self) -> None:
        """Stop and start the host again."""
        stop_host(self.config, self.env)
        start_host(self.config, self.env)


def running_host(folder: Path, **target: object) -> Iterator[Host]:
    """Start a host for a fresh config in `folder`; stop it afterwards."""
    config = write_config(folder, **target)
    env = config.env("production")
    start_host(config, env)
    try:
        yield Host(config, env, LocalTarget(config, env), folder)
    finally:
        stop_host(config, env)


@pytest.fixture
def local_host(tmp_path: Path) -> Iterator[Host]:
    """A running slot host with no slot deployed yet."""
    yield from running_host(tmp_path)
