"""The slot host: lifecycle, crashes reported, restarts that keep routing, sticky settings."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.support.local_fixtures import (
    Host,
    local_host,
    make_package,
    running_host,
    write_config,
)
from tests.support.waiting import wait_until
from turnout.errors import PackageError, StepError, Unavailable
from turnout.model import Release
from turnout.targets.local import LocalTarget, host_status, start_host, stop_host
from turnout.targets.local.paths import HostPaths, host_paths
from turnout.targets.protocol import PRODUCTION

__all__ = ["local_host"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it just waits for its parent to collect it.
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return status != "Z"


def host_paths_for(state_dir: Path) -> HostPaths:
    """The host files for a state directory."""
    return HostPaths(state_dir)


def _none_alive(pids: list[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


def _turnout(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "turnout"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _pid_of(host: Host, slot: str) -> int:
    return int(host.target.status()["slots"][slot]["pid"])


def test_cli_host_up_status_down(tmp_path: Path) -> None:
    """`turnout host up|status|down` start a detached host, describe it and stop it cleanly."""
    config = write_config(tmp_path)
    args = ["--env", "production", "--config", str(config.path)]
    up = _turnout("host", "up", *args, "--json")
    assert up.returncode == 0, up.stderr
    started = json.loads(up.stdout)
    assert started["running"] is True and started["already_running"] is False
    again = start_host(config, config.env("production"))
    assert again["already_running"] is True and again["pid"] == started["pid"]
    target = LocalTarget(config, config.env("production"))
    target.ensure_slot("blue")
    package = make_package(tmp_path / "packages", "1.0.0")
    target.deploy("blue", Release("1.0.0", package))
    status = _turnout("host", "status", *args, "--json")
    document = json.loads(status.stdout)
    blue = document["slots"]["blue"]
    assert (blue["version"], blue["state"]) == ("1.0.0", "running")
    assert blue["pid"] and blue["port"] and Path(blue["log"]).exists()
    assert "traffic" in blue and "uptime" in blue and "health" in blue
    human = _turnout("host", "status", *args)
    assert "blue" in human.stderr and "1.0.0" in human.stderr
    down = _turnout("host", "down", *args, "--json")
    assert json.loads(down.stdout)["was_running"] is True
    assert not _alive(blue["pid"])
    assert host_status(config, config.env("production")) is None


def test_admin_socket_is_private(local_host: Host) -> None:
    """The admin socket is mode 0600 and the state directory 0700."""
    paths = host_paths(local_host.config, local_host.env)
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.state_dir.stat().st_mode) == 0o700


def test_target_without_a_running_host_says_how_to_start_it(tmp_path: Path) -> None:
    """Using the target while the host is down is exit 3 (unavailable) naming `turnout host up`."""
    config = write_config(tmp_path)
    target = LocalTarget(config, config.env("production"))
    with pytest.raises(Unavailable, match=r"turnout host up --env production") as caught:
        target.slots()
    assert caught.value.exit_code == 3
    assert host_status(config, config.env("production")) is None


def test_slot_crashing_on_start_reports_exit_code_and_log_tail(local_host: Host) -> None:
    """A release that exits at start fails the deploy with its exit code and log tail."""
    target = local_host.target
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0", local_host.package("1.0.0")))
    with pytest.raises(StepError) as caught:
        target.deploy("blue", Release("1.1.0", local_host.package("1.1.0", crash=True)))
    error = caught.value
    assert error.details["exit_code"] == 3
    assert "boom: release 1.1.0 cannot start" in error.details["log_tail"]
    assert "exited with code 3" in error.message and "boom" in error.message
    blue = target.slots()["blue"]
    assert (blue.version, blue.state) == ("1.0.0", "running")
    assert "deploy of 1.1.0 failed" in blue.detail


def test_slot_that_exits_is_reported_crashed_not_restarted(local_host: Host) -> None:
    """A running slot process that exits shows as crashed with its exit code and stays down."""
    target = local_host.target
    target.ensure_slot("blue")
    state = target.deploy("blue", Release("1.0.0", local_host.package("1.0.0")))
    assert state.url
    pid = _pid_of(local_host, "blue")
    httpx.get(state.url + "/exit?code=7", timeout=5)
    wait_until(lambda: target.slots()["blue"].state == "crashed")
    time.sleep(0.6)  # longer than the health interval: nothing brings it back
    blue = target.slots()["blue"]
    assert blue.state == "crashed" and "exit code 7" in blue.detail
    assert blue.url is None
    assert not _alive(pid)


def test_production_crash_makes_the_router_answer_503(local_host: Host) -> None:
    """When the production process dies the router answers 503 naming the crash."""
    target = local_host.target
    target.deploy(PRODUCTION, Release("1.0.0", local_host.package("1.0.0")))
    port = target.status()["slots"][PRODUCTION]["port"]
    httpx.get(f"http://127.0.0.1:{port}/exit?code=9", timeout=5)
    wait_until(lambda: target.slots()[PRODUCTION].state == "crashed")
    response = httpx.get(target.production_url() + "/health", timeout=5)
    assert response.status_code == 503
    assert "crashed" in response.text and "exited with code 9" in response.text


def test_unsafe_package_is_refused_with_exit_2_and_nothing_changes(local_host: Host) -> None:
    """Deploying a zip with a `..` entry is a PackageError (exit 2); the slot is untouched."""
    target = local_host.target
    target.ensure_slot("blue")
    bad = local_host.folder / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("../../evil.py", "print('pwned')")
    with pytest.raises(PackageError) as caught:
        target.deploy("blue", Release("6.6.6", bad))
    assert caught.value.exit_code == 2
    assert target.slots()["blue"].version is None


def test_host_killed_and_restarted_keeps_versions_and_routing(tmp_path: Path) -> None:
    """After SIGKILL of the host, a new host serves the same versions in the same slots."""
    for host in running_host(tmp_path):
        target = host.target
        target.ensure_slot("blue")
        target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        target.swap("blue")
        target.deploy("blue", Release("2.0.0", host.package("2.0.0")))
        old_pids = [_pid_of(host, PRODUCTION), _pid_of(host, "blue")]
        blue_port = target.status()["slots"]["blue"]["port"]
        os.kill(target.status()["pid"], signal.SIGKILL)
        # The slot processes die with their host instead of squatting on their ports.
        wait_until(partial(_none_alive, old_pids))
        start_host(host.config, host.env)
        versions = {name: s.version for name, s in target.slots().items()}
        assert versions == {PRODUCTION: "1.0.0", "blue": "2.0.0"}
        assert httpx.get(target.production_url() + "/health").json()["version"] == "1.0.0"
        assert target.status()["slots"]["blue"]["port"] == blue_port
        assert target.swap_count() == 1
        host.restart()
        assert httpx.get(target.production_url() + "/health").json()["version"] == "1.0.0"


def _reset_connections(listener: socket.socket, until: float) -> None:
    """Accept admin connections and drop them unanswered, as a host being killed does."""
    listener.settimeout(0.05)
    while time.monotonic() < until:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.close()


@contextlib.contextmanager
def _dying_host(paths: HostPaths) -> Iterator[None]:
    """A host being killed: its admin socket drops connections unanswered, and it lets go of
    its lock a second later."""
    paths.ensure()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(paths.socket))
    listener.listen()
    lock = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    dying = threading.Thread(target=_reset_connections, args=(listener, time.monotonic() + 2))
    dying.start()
    release = threading.Timer(1.0, os.close, args=(lock,))
    release.start()
    try:
        yield
    finally:
        release.join()
        dying.join()
        listener.close()


def test_host_dying_with_its_lock_held_is_reported_not_running(tmp_path: Path) -> None:
    """A host dropping connections while it holds its lock is "not running" once it lets go."""
    config = write_config(tmp_path)
    env = config.env("production")
    with _dying_host(host_paths(config, env)):
        assert host_status(config, env) is None


def test_stopping_a_dying_host_waits_until_it_is_gone(tmp_path: Path) -> None:
    """`stop_host` on a host that drops the stop request waits for its lock, not an error."""
    config = write_config(tmp_path)
    env = config.env("production")
    paths = host_paths(config, env)
    with _dying_host(paths):
        assert stop_host(config, env) is True
        # It returned once the lock was free: taking it now does not block.
        free = os.open(paths.lock_file, os.O_RDWR)
        fcntl.flock(free, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(free)


def test_host_down_kills_a_slot_that_ignores_sigterm(tmp_path: Path) -> None:
    """A slot process ignoring SIGTERM is killed after stop_grace when the host stops."""
    for host in running_host(tmp_path, stop_grace=0.5, settings={"IGNORE_SIGTERM": "1"}):
        host.target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        pid = _pid_of(host, PRODUCTION)
        started = time.monotonic()
        assert stop_host(host.config, host.env) is True
        assert time.monotonic() - started < 5
        assert not _alive(pid)
        assert stop_host(host.config, host.env) is False


def test_settings_and_slot_sticky_settings(tmp_path: Path) -> None:
    """Every slot gets `settings`; slot-sticky settings stay with the slot across a swap."""
    sticky = {PRODUCTION: {"ROLE": "live"}, "blue": {"ROLE": "staging"}}
    for host in running_host(tmp_path, settings={"SHARED": "yes"}, slot_settings=sticky):
        target = host.target

        def setting(url: str, name: str) -> str:
            return str(httpx.get(f"{url}/env?name={name}", timeout=5).json()["value"])

        target.ensure_slot("blue")
        staged = target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        assert staged.url
        assert setting(staged.url, "ROLE") == "staging"
        assert setting(staged.url, "SHARED") == "yes"
        assert setting(staged.url, "PORT") == str(target.status()["slots"]["blue"]["port"])
        target.deploy(PRODUCTION, Release("0.9.0", host.package("0.9.0")))
        target.swap("blue")
        assert setting(target.production_url(), "ROLE") == "live"
        old = target.slots()["blue"]
        assert old.version == "0.9.0" and old.url
        assert setting(old.url, "ROLE") == "staging"


def test_long_state_directory_gets_a_short_private_socket_path(tmp_path: Path) -> None:
    """A state directory too deep for AF_UNIX gets a stable short socket path instead."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    paths = host_paths_for(deep)
    assert len(str(paths.socket)) < 108
    assert paths.socket == host_paths_for(deep).socket
    assert str(paths.state_dir) not in str(paths.socket)
    for host in running_host(tmp_path / "cfg", state_dir=str(deep)):
        assert host.target.slots()[PRODUCTION].state == "empty"
        assert stat.S_IMODE(paths.socket.parent.stat().st_mode) == 0o700
