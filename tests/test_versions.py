"""Release versions are checked against the documented pattern before anything happens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.local_fixtures import make_package, write_config

HOSTILE = ["", "1.0 --debug", "../../etc", "-rf", "1.0\x1b[2J"]


def _turnout(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "turnout"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("version", HOSTILE)
def test_deploy_refuses_a_hostile_version_before_anything(tmp_path: Path, version: str) -> None:
    """`deploy --version` with an empty or hostile version is exit 2 and creates no state."""
    config = write_config(tmp_path)
    package = make_package(tmp_path / "packages", "1.0.0")
    done = _turnout(
        "deploy", "--env", "production", "--config", str(config.path), "--yes",
        "--package", str(package), f"--version={version}",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not a valid release version" in done.stderr
    assert "\x1b" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".turnout").exists()


def test_valid_versions_pass_the_check() -> None:
    """Semantic versions with pre-release and build parts, and commit ids, are accepted."""
    from turnout.versions import version_problem

    for version in ("1.4.0", "v2.0.0-rc.1+build.7", "3f2a9c1d0b7e", "2026.12.01_1"):
        assert version_problem(version) is None
