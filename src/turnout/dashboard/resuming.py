"""The page's resume: `turnout resume` started as its own process, as the signed-in person.

A deployment runs for minutes; as a process of its own it outlives the page (stopping the
dashboard does not cut it off) and is exactly the command line's resume, with its lock,
journal and audit. Its output goes to a log file in the state directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from turnout.config import LoadedConfig


def start_resume(config: LoadedConfig, environment: str, person: str) -> Path:
    """Start `turnout resume --env ENV --as PERSON` in the background; its log file."""
    config.env(environment)  # an unknown environment is bad input
    folder = config.state_dir / "dashboard"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = folder / f"resume-{environment}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "turnout",
                "resume",
                "--env",
                environment,
                "--as",
                person,
                "--config",
                str(config.path),
            ],
            cwd=Path(config.path).parent,
            env={**os.environ, "TURNOUT_USER": person},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Collected when it ends, so no finished resume lingers as a zombie of the page.
    threading.Thread(target=process.wait, daemon=True).start()
    return log
