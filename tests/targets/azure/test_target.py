"""The azure target's configuration and packaging edges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.azure_world import running_azure, write_azure_config
from tests.support.local_fixtures import make_package
from turnout.errors import ConfigError
from turnout.model import Release
from turnout.targets.protocol import deploy_and_wait
from turnout.targets.registry import create_target

BLOCK_SDK = (
    "import sys; sys.modules['azure.mgmt.web'] = None; "
    "from turnout.cli.main import run; sys.argv = ['turnout', *sys.argv[1:]]; run()"
)


def test_missing_extra_is_a_configuration_error_naming_the_install(tmp_path: Path) -> None:
    """Without the Azure SDKs, a command needing the target exits 2 saying how to install them."""
    config = tmp_path / "turnout.toml"
    config.write_text(
        '[app]\nname = "x"\n[environments.production.target]\nkind = "azure"\n'
        'subscription = "00000000-0000-0000-0000-000000000001"\nresource_group = "rg"\n'
        'app = "x-app"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_SDK,
            "rollback",
            "--env",
            "production",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    text = " ".join(result.stderr.split())
    assert "pip install 'turnout[azure]'" in text and "environments.production.target" in text
    assert "Traceback" not in result.stderr


def test_unset_subscription_reference_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """subscription = "env:NAME" with NAME unset: a ConfigError naming the key, no call made."""
    monkeypatch.delenv("TURNOUT_TEST_NO_SUCH_SUBSCRIPTION", raising=False)
    with running_azure(tmp_path / "azure") as world:
        config = write_azure_config(
            world, tmp_path / "project", subscription="env:TURNOUT_TEST_NO_SUCH_SUBSCRIPTION"
        )
        with pytest.raises(ConfigError) as caught:
            create_target(config, config.env("production"))
        assert caught.value.key == "environments.production.target.subscription"
        assert world.server.requests == []


def test_directory_package_is_zipped_for_onedeploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release given as a directory is zipped and deployed like a zip."""
    with running_azure(tmp_path / "azure") as world:
        for key, value in world.apply().items():
            monkeypatch.setenv(key, value)
        config = write_azure_config(world, tmp_path / "project")
        target = create_target(config, config.env("production"))
        try:
            target.ensure_slot("blue")
            tree = make_package(tmp_path / "packages", "4.0.0", as_zip=False)
            state = deploy_and_wait(target, "blue", Release("4.0.0", tree))
        finally:
            target.close()
        assert (state.version, state.state) == ("4.0.0", "running")
        assert world.server.version_in("blue") == "4.0.0"
