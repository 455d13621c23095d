"""The tesoro sample app, shipped inside the package: where it is and how to copy it.

It lives in `turnout/examples/tesoro/` as package data (the repository's
`examples/tesoro` links there), so `turnout init --example tesoro` and
`turnout demo` work from an installed wheel as well as from a clone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from turnout.errors import BadInput

SAMPLE_NAME = "tesoro"
# Left behind by a run of the sample app or its build, never part of a fresh copy.
LOCAL_LEFTOVERS = (".turnout", "data", "__pycache__", "dist")


def example_dir() -> Path:
    """The tesoro sample app's source tree inside the installed package."""
    # A wheel installs as plain files, so the resource is a real directory.
    candidate = Path(str(resources.files("turnout").joinpath("examples", SAMPLE_NAME)))
    if not (candidate / "turnout.toml").is_file():
        raise BadInput(f"{candidate}: the tesoro sample app is missing from this installation")
    return candidate


def copy_example(destination: Path) -> Path:
    """Copy the tesoro sample app into an empty `destination` and build its packages."""
    source = example_dir()
    if destination.exists() and any(destination.iterdir()):
        raise BadInput(f"{destination}: not empty; the sample app needs an empty directory")
    shutil.copytree(
        source, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*LOCAL_LEFTOVERS)
    )
    # The release packages are built from the app's single source tree, as in a real project.
    subprocess.run([sys.executable, "build.py"], cwd=destination, check=True, capture_output=True)
    return destination / "turnout.toml"
