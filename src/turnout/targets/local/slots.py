"""Slot processes: start a release with the command template, wait for it to listen, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from turnout.childenv import Setting, child_environment, secret_name
from turnout.config.secrets import SecretRef
from turnout.errors import BadInput
from turnout.targets.local.router import Upstream

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_BYTES = 4096


class SlotStartFailed(Exception):
    """A slot process exited or never listened; carries its exit code and log tail."""

    def __init__(self, message: str, *, exit_code: int | None, log: Path) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.log = log
        self.log_tail = log_tail(log)


def _die_with_host() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If the host is killed outright, its slot processes get SIGTERM instead of lingering
    # on ports the restarted host needs.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def build_command(template: str, values: Mapping[str, str]) -> list[str]:
    """The argv of a slot process: split like a shell (no shell runs), then placeholders filled.

    Splitting first means a value such as `{version}` is always one argument, whatever
    it contains."""
    try:
        parts = shlex.split(template)
    except ValueError as exc:
        raise BadInput(f"target.command: {exc}") from None
    if not parts:
        raise BadInput("target.command: empty command")
    argv: list[str] = []
    for part in parts:
        try:
            argv.append(part.format_map(dict(values)))
        except (KeyError, IndexError, ValueError) as exc:
            known = ", ".join("{" + k + "}" for k in sorted(values))
            raise BadInput(f"target.command: bad placeholder {exc} (known: {known})") from None
    return argv


def fill_settings(
    settings: Mapping[str, Setting], values: Mapping[str, str], key: str
) -> dict[str, Setting]:
    """Settings with the command's placeholders ({config_dir}, {port}, ...) filled in."""
    filled: dict[str, Setting] = {}
    for name, value in settings.items():
        if isinstance(value, SecretRef) or secret_name(value) is not None:
            filled[name] = value  # a secret reference, resolved later; never a template
            continue
        try:
            filled[name] = value.format_map(dict(values))
        except (KeyError, IndexError, ValueError) as exc:
            known = ", ".join("{" + k + "}" for k in sorted(values))
            raise BadInput(f"target.{key}.{name}: bad placeholder {exc} (known: {known})") from None
    return filled


def slot_environment(
    base: Mapping[str, str],
    *,
    port: int,
    version: str,
    release_dir: Path,
    venv: Path | None,
    passed: Iterable[str],
    settings: Iterable[Mapping[str, str]],
) -> dict[str, str]:
    """Environment of a slot process: the scrubbed host environment, PORT and settings.

    `python` in a command template means the release's virtual environment when the
    package holds one, else the interpreter turnout runs on."""
    env = child_environment(passed=passed, base=base)
    front = [str(Path(sys.executable).parent)]
    if venv is not None:
        front.insert(0, str(venv / "bin"))
        env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([*front, env.get("PATH", os.defpath)])
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PORT"] = str(port)
    env["TURNOUT_VERSION"] = version
    env["TURNOUT_RELEASE_DIR"] = str(release_dir)
    for values in settings:
        env.update(values)
    return env


def free_port(host: str, wanted: int | None = None) -> int:
    """`wanted` if it can be bound on `host`, else a free port the kernel picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in ([wanted] if wanted else []) + [0]:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError(f"no free port on {host}")  # pragma: no cover - port 0 always binds


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ("" when there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process (clock ticks after boot), None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are space-separated.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def kill_leftover(pid: int | None, started: int | None, grace: float) -> None:
    """Stop a slot process left by a host that was killed (only if the pid is still ours)."""
    if not pid or started is None or process_start_ticks(pid) != started:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process_start_ticks(pid) == started:
        time.sleep(0.05)
    if process_start_ticks(pid) == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


class SlotProcess:
    """One running release: its process, port, log and upstream connection pool."""

    def __init__(
        self,
        *,
        version: str,
        release_dir: Path,
        host: str,
        port: int,
        sticky: str,
        log: Path,
    ) -> None:
        self.version = version
        self.release_dir = release_dir
        self.host = host
        self.port = port
        self.sticky = sticky
        self.launch = ""
        """Fingerprint of the command and settings it was started with (launch_digest)."""
        self.log = log
        self.upstream = Upstream(host, port)
        self.started_at = 0.0
        self.pid_started: int | None = None
        self.exit_code: int | None = None
        self.stopping = False
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """Process id, once started."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._process is not None and self._process.returncode is None

    @property
    def url(self) -> str:
        """The process's own base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, argv: list[str], env: dict[str, str], slot: str) -> None:
        """Start the process with output appended to its log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only: an app's output may carry its secrets.
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            log.write(
                f"=== {stamp} starting {self.version} in slot {slot} on port {self.port}: "
                f"{shlex.join(argv)}\n".encode()
            )
            log.flush()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=self.release_dir,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_host,
                )
            except OSError as exc:
                log.write(f"cannot start: {exc}\n".encode())
                raise SlotStartFailed(
                    f"cannot start {argv[0]!r}: {exc.strerror or exc}", exit_code=None, log=self.log
                ) from exc
        self.started_at = time.time()
        self.pid_started = process_start_ticks(self._process.pid)

    async def wait_listening(self, timeout: float) -> None:
        """Return once the port accepts connections; SlotStartFailed if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.returncode is not None:
                code = await self.wait()
                raise SlotStartFailed(
                    f"{self.version} exited with code {code} before listening on port {self.port}",
                    exit_code=code,
                    log=self.log,
                )
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    await self.stop(0.5)
                    raise SlotStartFailed(
                        f"{self.version} did not listen on port {self.port} within {timeout:g} s",
                        exit_code=self.exit_code,
                        log=self.log,
                    ) from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    async def wait(self) -> int | None:
        """Wait for the process to exit; its exit code (negative: killed by that signal)."""
        if self._process is None:
            return self.exit_code
        self.exit_code = await self._process.wait()
        return self.exit_code

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group, SIGKILL after `grace` seconds."""
        self.stopping = True
        self.upstream.close()
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        self.exit_code = process.returncode
