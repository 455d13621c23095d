"""Slot processes get a scrubbed environment and exactly their own secrets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.support.local_fixtures import running_host
from turnout.errors import BadInput
from turnout.model import Release

hosted = contextlib.contextmanager(running_host)

PLANTED = "planted-deployer-token-5f1c"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def test_slot_process_environment_holds_no_deployer_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens in the deployer's environment never reach /proc/PID/environ; env:NAME does."""
    monkeypatch.setenv("GITHUB_TOKEN", PLANTED)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"https://hooks.example/{PLANTED}")
    monkeypatch.setenv("TURNOUT_STATE_URL", f"postgresql+psycopg://u:{PLANTED}@db/state")
    monkeypatch.setenv("PAYMENTS_API_KEY", "app-own-secret-91")
    monkeypatch.setenv("APP_REGION", "eu-west")
    monkeypatch.setenv("LC_TIME", "C")
    with hosted(
        tmp_path,
        settings={"API_KEY": "env:PAYMENTS_API_KEY", "MODE": "live"},
        pass_env=["APP_REGION"],
    ) as host:
        host.target.ensure_slot("blue")
        host.target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        pid = int(host.target.status()["slots"]["blue"]["pid"])
        environ = _environ(pid)
        assert not [k for k, v in environ.items() if PLANTED in v], environ
        assert "GITHUB_TOKEN" not in environ and "TURNOUT_STATE_URL" not in environ
        assert "PAYMENTS_API_KEY" not in environ  # only under the app's own name
        assert environ["API_KEY"] == "app-own-secret-91"
        assert environ["MODE"] == "live" and environ["APP_REGION"] == "eu-west"
        assert environ["LC_TIME"] == "C" and environ["PORT"]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "app-own-secret-91" not in cmdline


def test_unset_secret_reference_fails_the_deploy_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting naming an unset secret is bad input naming the key; the slot stays as it was."""
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    with hosted(tmp_path, settings={"DB_PASSWORD": "env:MISSING_SECRET"}) as host:
        refs = dict(host.config.secret_refs())  # what `turnout check` lists when unset
        assert str(refs["environments.production.target.settings.DB_PASSWORD"]) == (
            "env:MISSING_SECRET"
        )
        host.target.ensure_slot("blue")
        with pytest.raises(BadInput, match=r"target\.settings\.DB_PASSWORD: .*MISSING_SECRET"):
            host.target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        assert host.target.slots()["blue"].state == "empty"


def test_build_command_never_splits_a_placeholder_value() -> None:
    """A value with spaces or quotes becomes exactly one argument."""
    from turnout.targets.local.slots import build_command

    argv = build_command("app --label {version} --port {port}", {"version": "1 --x '", "port": "1"})
    assert argv == ["app", "--label", "1 --x '", "--port", "1"]
