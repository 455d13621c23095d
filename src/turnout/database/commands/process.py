"""Run one migration command: from the release, with a deadline, its output kept.

The command's output streams to the progress display line by line and its last lines
are kept (with any secret replaced by ***) for the deployment's record and for the
message of a failure. On Linux the command is started through a two-line guard that
asks the kernel to kill it when turnout dies (PR_SET_PDEATHSIG), so a turnout killed
mid-migration never leaves a tool migrating behind the resumed run's back: `resume`
asks the tool what is applied once nothing else is running it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from turnout.command_record import CommandRun
from turnout.errors import StepError

KEPT_LINES = 60
"""How many of a command's last lines the record keeps."""
_GRACE_SECONDS = 5.0

# argv: [python, -c, GUARD, parent pid, program, args...]; exec keeps the death signal.
_GUARD = (
    "import ctypes,os,signal,sys\n"
    "ctypes.CDLL(None).prctl(1,signal.SIGKILL)\n"
    "os.getppid()==int(sys.argv[1]) or os._exit(137)\n"
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)


class ProgramNotFound(StepError):
    """The command's program is not on PATH or in the release."""


def find_program(program: str, cwd: Path, environ: Mapping[str, str]) -> str:
    """The program's path (relative names resolve in `cwd`); ProgramNotFound otherwise."""
    if "/" in program:
        path = cwd / program  # an absolute program stays itself
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    else:
        found = shutil.which(program, path=environ.get("PATH", os.defpath))
        if found is not None:
            return found
    raise ProgramNotFound(
        f"{program}: no such program (looked {'in ' + str(cwd) if '/' in program else 'on PATH'});"
        " set database.migrations.program"
    )


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    timeout: float,
    secrets: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _line: None,
) -> tuple[CommandRun, str]:
    """Run `argv` to its end or its deadline; returns its record and its whole stdout
    (stderr goes into the record's lines only, so listings read clean stdout)."""
    program = find_program(argv[0], cwd, environ)
    started_argv = [program, *argv[1:]]
    if sys.platform == "linux":
        started_argv = [sys.executable, "-c", _GUARD, str(os.getpid()), *started_argv]
    tail: deque[str] = deque(maxlen=KEPT_LINES)
    stdout_parts: list[str] = []
    lock = threading.Lock()

    def scrub(line: str) -> str:
        for secret in secrets:
            line = line.replace(secret, "***")
        return line

    def pump(stream: object, keep: bool) -> None:
        assert hasattr(stream, "readline")
        for raw in iter(stream.readline, ""):
            line = scrub(raw.rstrip("\n"))
            with lock:
                tail.append(line)
                if keep:
                    stdout_parts.append(line)
            progress(f"  | {line}")

    began = time.monotonic()
    proc = subprocess.Popen(
        started_argv,
        cwd=cwd,
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # a timeout stops the command and whatever it started
    )
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, True), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, False), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
    finally:
        if proc.poll() is None:  # interrupted (Ctrl-C): the command must not run on
            _stop(proc)
    for reader in readers:
        reader.join(timeout=_GRACE_SECONDS)
    record = CommandRun(
        argv=list(argv),
        cwd=str(cwd),
        exit_code=None if timed_out else proc.returncode,
        seconds=round(time.monotonic() - began, 3),
        output=list(tail),
        timed_out=timed_out,
    )
    return record, "\n".join(stdout_parts)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the command's process group, SIGKILL it if it is still there after a grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
