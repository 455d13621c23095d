"""The second of a swap is judged by who answered each request, not by a time cut."""

from __future__ import annotations

from datetime import UTC, datetime

from turnout.analysis.judge import Judge
from turnout.analysis.router import RouterProvider
from turnout.analysis.watch import Watcher, WatchState
from turnout.clock import FrozenClock
from turnout.config.analysis import AnalysisConfig
from turnout.targets.local.metrics import TrafficCounters
from turnout.targets.protocol import PRODUCTION

SWAP = 1_800_000_000.4
"""The swap happens 0.4 s into a second."""


def _counters_with_a_swap(clock: FrozenClock) -> TrafficCounters:
    counters = TrafficCounters(clock=lambda: clock.now().timestamp())
    # In the swap's second: the old version's last 30 requests (5 failed), the new one's 60.
    for index in range(30):
        counters.record(PRODUCTION, "1.0", 500 if index < 5 else 200, 4.0)
    for _ in range(60):
        counters.record(PRODUCTION, "1.1", 200, 4.0, probe=True)
    return counters


def test_the_new_versions_requests_of_the_swap_second_are_judged_and_the_old_ones_not() -> None:
    """Reading by version includes every request the new version answered in the swap's second
    and none of the old version's, whose failures would otherwise count against the release."""
    clock = FrozenClock(datetime.fromtimestamp(SWAP, UTC))
    counters = _counters_with_a_swap(clock)
    clock.advance(3)
    judge = Judge(AnalysisConfig())
    by_version = WatchState.begin(PRODUCTION, SWAP, 0.0, version="1.1")
    watcher = Watcher(RouterProvider(counters), judge, clock, by_version)
    totals = watcher.observed(clock.now().timestamp())
    assert totals.count == 60 and totals.errors == 0 and totals.probes == 60

    # The same traffic read by slot with a time cut at the swap loses the whole second.
    by_time = WatchState.begin(PRODUCTION, SWAP, 0.0)
    cut = Watcher(RouterProvider(counters), judge, clock, by_time).observed(clock.now().timestamp())
    assert cut.count == 0
