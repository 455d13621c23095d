"""The slot host follows the configuration file the deployer uses, or says why it cannot."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from tests.support.local_fixtures import running_host, write_config
from turnout.errors import Refused
from turnout.model import Release
from turnout.targets.local import LocalTarget

hosted = contextlib.contextmanager(running_host)


def test_deploy_applies_settings_edited_while_the_host_runs(tmp_path: Path) -> None:
    """Edited settings reach the process a deploy starts, even for a build already running."""
    with hosted(tmp_path) as host:
        address = host.target.settings.address
        host.target.ensure_slot("blue")
        before = host.target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        edited = write_config(
            tmp_path, address=address, settings={"GREETING": "hello"}, start_timeout=20.0
        )
        target = LocalTarget(edited, edited.env("production"))
        after = target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        assert after.url is not None and after.url != before.url
        greeting = httpx.get(f"{after.url}/env", params={"name": "GREETING"}).json()["value"]
        assert greeting == "hello"
        assert "applied changed settings: settings, start_timeout" in after.detail
        assert target.status()["slots"]["blue"]["build"] == before.build


def test_deploy_refuses_settings_that_need_a_host_restart(tmp_path: Path) -> None:
    """A changed router address is refused (exit 3) naming the key; the slot is untouched."""
    with hosted(tmp_path) as host:
        host.target.ensure_slot("blue")
        host.target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        edited = write_config(tmp_path)  # another free port for `address`
        target = LocalTarget(edited, edited.env("production"))
        with pytest.raises(Refused, match=r"target\.address.*restart it") as caught:
            target.deploy("blue", Release("1.1.0", host.package("1.1.0")))
        assert caught.value.exit_code == 3 and caught.value.details["keys"] == ["address"]
        assert host.target.slots()["blue"].version == "1.0.0"


def test_settings_check_names_what_a_deploy_would_refuse_or_apply(tmp_path: Path) -> None:
    """The pre-flight question changes nothing: restart keys are refused, others listed."""
    with hosted(tmp_path) as host:
        address = host.target.settings.address
        assert host.target.check_settings() == []
        edited = write_config(tmp_path, address=address, command="python -m app --quiet")
        target = LocalTarget(edited, edited.env("production"))
        assert target.check_settings() == ["command"]
        assert host.target.status()["slots"]["production"]["state"] == "empty"
        moved = write_config(tmp_path)
        with pytest.raises(Refused, match=r"target\.address"):
            LocalTarget(moved, moved.env("production")).check_settings()
        assert host.target.check_settings() == []  # nothing was applied by asking
