"""Run a turnout command inside the test process: for commands that only read (status,
history), where a process start-up is not what a test is about."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def environment(variables: dict[str, str], cwd: Path | None = None) -> Iterator[None]:
    """Set these environment variables (and the working directory), then put both back."""
    saved = {name: os.environ.get(name) for name in variables}
    here = Path.cwd()
    os.environ.update(variables)
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(here)
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def turnout_in_process(
    argv: list[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`turnout ARGV` run by its entry point here, output captured as a subprocess's would be."""
    from turnout.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with environment(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(["turnout", *argv], code, out.getvalue(), err.getvalue())
