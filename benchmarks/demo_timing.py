"""Wall time of each demo deployment, split into where it goes.

Runs the demo's story (real slot host, real traffic, real database) `--runs` times
and prints, per deployment, the median wall time, the time spent waiting on the
app (booting, warming and smoke-testing it in its slot), judging the release
(verification traffic on the staging slot before the swap, live traffic after
it), the preflight's checks of the package and the target, and turnout's own
work (gates, journal, announcements, backup, migration, swap, records). Goal:
turnout's own work under 1 s per deployment.

    python -m benchmarks.demo_timing [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

from turnout.api.report_figures import ReportResult
from turnout.demo.story import Story
from turnout.runbook.engine import StepEvent


class _Quiet(AbstractContextManager["_Quiet"]):
    """A reporter that tells nothing (the figures are printed at the end)."""

    def section(self, title: str) -> None:
        return None

    def line(self, text: str) -> None:
        return None

    def deployment(self, title: str) -> _Quiet:
        return self

    def __call__(self, event: StepEvent) -> None:
        return None

    def history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        return None

    def report(self, result: ReportResult) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            story = Story(Path(tmp) / "demo", _Quiet())
            code = story.run()
            if code:
                raise SystemExit(f"run {run + 1}: the demo did not behave as expected")
            for c in story.chapters:
                figures[f"{c.version} -> {c.environment}"].append(
                    (c.wall_s, c.app_wait_s, c.verification_s, c.target_checks_s, c.own_s)
                )
    print(f"demo deployments, median of {args.runs} run(s), seconds")
    print(
        f"{'deployment':<22} {'wall':>7} {'waiting on app':>15} {'verification':>13}"
        f" {'target checks':>14} {'turnout own':>12} {'goal':>6}"
    )
    for name, rows in figures.items():
        wall, app, verify, checks, own = (statistics.median(r[i] for r in rows) for i in range(5))
        print(
            f"{name:<22} {wall:>7.2f} {app:>15.2f} {verify:>13.2f} {checks:>14.2f}"
            f" {own:>12.2f} {'< 1':>6}"
        )


if __name__ == "__main__":
    main()
