"""The `turnout` console script and `python -m turnout`: start the command line.

The cycle collector is paused before anything is imported: starting a command allocates
many objects that live until it ends (modules, classes, the configuration) and next to no
reference cycles, so collecting then only scans the same objects again and again.
`main` resumes collection before running any command but the short reading ones."""

from __future__ import annotations

import gc
import sys


def run() -> None:
    """Console-script entry point."""
    gc.disable()
    from turnout.cli.main import main

    sys.exit(main(resume_collection=True))
