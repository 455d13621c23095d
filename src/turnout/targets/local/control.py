"""Start, stop and ask about an environment's slot host (what `turnout host` calls)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from turnout.errors import BadInput, StepError
from turnout.targets.local.admin import AdminClient, HostNotRunning
from turnout.targets.local.paths import HostPaths, host_paths, local_settings
from turnout.targets.local.slots import log_tail

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig

# How long a host that resets connections may take to finish dying.
_DYING_GRACE = 5.0

# Hosts started by this process, polled so that they are reaped once they exit.
_children: list[subprocess.Popen[bytes]] = []


def host_status(config: LoadedConfig, env: EnvironmentConfig) -> dict[str, Any] | None:
    """The running host's status document, or None when it is not running."""
    paths = host_paths(config, env)
    client = AdminClient(paths.socket, timeout=local_settings(env).admin_timeout)
    # A host killed while our connection sat in its backlog resets it, and a dying host
    # holds its lock until the last of its threads has gone: wait that short while, so
    # "dying" ends as "not running" (lock released) or an answer, not a failure.
    deadline = time.monotonic() + _DYING_GRACE
    while True:
        try:
            status: dict[str, Any] = client.call("status")
        except HostNotRunning:
            return None
        except StepError:
            if not _locked(paths):
                return None
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
            continue
        return status


def start_host(
    config: LoadedConfig, env: EnvironmentConfig, foreground: bool = False
) -> dict[str, Any]:
    """Start the host (detached unless `foreground`) and return its status once it answers.

    Already running: its status, nothing started. Foreground: runs until stopped and
    returns an empty dict.
    """
    settings = local_settings(env)
    paths = host_paths(config, env)
    current = host_status(config, env)
    if current is not None:
        current["already_running"] = True
        return current
    if foreground:
        from turnout.targets.local.host import run_host

        run_host(config, env)
        return {}
    paths.ensure()
    # Owner-only: the host's log names slots, ports and what went wrong with them.
    fd = os.open(paths.host_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "turnout.targets.local.host",
                "--config",
                str(config.path),
                "--env",
                env.name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=config.base_dir,
            start_new_session=True,  # detached: survives the shell that started it
        )
    _children.append(process)
    slots = max(1, sum(1 for _ in _table_versions(paths)))
    deadline = time.monotonic() + settings.start_timeout * slots + 20
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            tail = log_tail(paths.host_log, 10)
            message = (
                f"slot host for {env.name} exited with code {code} ({paths.host_log}):\n{tail}"
            )
            if code == 2:
                raise BadInput(message)
            raise StepError(message, details={"exit_code": code, "log": str(paths.host_log)})
        status = host_status(config, env)
        if status is not None:
            status["already_running"] = False
            return status
        time.sleep(0.05)
    raise StepError(f"slot host for {env.name} did not answer in time (log {paths.host_log})")


def stop_host(config: LoadedConfig, env: EnvironmentConfig) -> bool:
    """Stop the host and its slot processes; False when it was not running."""
    settings = local_settings(env)
    paths = host_paths(config, env)
    pid = _pid(paths)
    try:
        pid = int(AdminClient(paths.socket).call("stop", timeout=5.0)["pid"])
    except (HostNotRunning, StepError):
        if not _locked(paths):
            return False
        if pid:  # running but not answering (or dying): ask the way systemd would
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.stop_grace + 15
    while _locked(paths):
        _reap()
        if time.monotonic() > deadline:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            break
        time.sleep(0.05)
    _reap()
    return True


def _reap() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)


def _pid(paths: HostPaths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _locked(paths: HostPaths) -> bool:
    """Whether a live host holds the environment's lock."""
    try:
        fd = os.open(paths.lock_file, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _table_versions(paths: HostPaths) -> list[str]:
    from turnout.targets.local.table import load_table

    try:
        table = load_table(paths.table)
    except (OSError, ValueError):
        return []
    return [r.version for r in table.slots.values() if r.version]
