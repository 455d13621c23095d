"""Run the `turnout` command line with a checkpoint that SIGKILLs this process at one point.

Usage: python tests/support/kill_at.py POINT TURNOUT-ARGUMENTS...   (POINT: `before:swap`,
`after:stage`, `undo:migrate`, ...). Every other point passes; a point never reached leaves
the command to end as it would.
"""

from __future__ import annotations

import os
import signal
import sys

from turnout.cli.main import main
from turnout.runbook.checkpoint import Point, install


def _kill_at(wanted: str) -> None:
    def checkpoint(point: Point) -> None:
        if str(point) == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    install(checkpoint)


if __name__ == "__main__":
    _kill_at(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
