"""Start-up time of the commands people run most, against `python -c pass`, in one run.

Each command starts as a fresh process (the installed `turnout` console script) against a
project with a state store holding two deployments, on the fake target. The runs are
interleaved (pass, --help, status, window, history, pass, ...) so a busy machine slows
every command alike; the figures are medians. Goal (first-hour issue): 0.3 s or less each.

    python -m benchmarks.startup [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.project import fake_project

GOAL_S = 0.3


def turnout_command() -> list[str]:
    """The console script next to this interpreter (what a user runs), else `-m turnout`."""
    script = Path(sys.executable).parent / "turnout"
    if script.is_file():
        return [str(script)]
    found = shutil.which("turnout")
    return [found] if found else [sys.executable, "-m", "turnout"]


def timed(argv: list[str], cwd: Path) -> float:
    """Wall time of one run, in seconds; the command must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-800:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ["TURNOUT_USER"] = "bench"
    os.environ.pop("TURNOUT_STATE_URL", None)
    # As on a user's machine: compiled bytecode is cached (the warm-up run writes it).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        # A cache folder of the run's own (what the warm-up remembers, e.g. the holiday
        # calendar it validated), untouched by other turnout installs on the machine.
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        project = fake_project(Path(tmp) / "project")
        turnout = turnout_command()
        for version in ("1.0.0", "1.1.0"):
            timed([*turnout, "deploy", "--env", "web", "--version", version, "--yes"], project.root)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "turnout --help": [*turnout, "--help"],
            "turnout status": [*turnout, "status", "--env", "web"],
            "turnout window": [*turnout, "window", "--env", "web"],
            "turnout history": [*turnout, "history"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # one warm-up each: file caches, bytecode
            timed(argv, project.root)
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, project.root))
    reference = statistics.median(times["python -c pass"])
    print(f"{'command':<18} {'median s':>9} {'ratio':>7}  goal <= {GOAL_S} s  ({args.runs} runs)")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "" if name == "python -c pass" else ("ok" if median <= GOAL_S else "over")
        print(f"{name:<18} {median:>9.3f} {median / reference:>7.1f}  {verdict}")


if __name__ == "__main__":
    main()
