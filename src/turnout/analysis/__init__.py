"""Metric analysis: providers, baseline, sequential tests, the judge and the watch loop."""

from __future__ import annotations

from turnout.analysis.baseline import Baseline, measure_baseline
from turnout.analysis.judge import Judge, MetricLimits, derive_limits
from turnout.analysis.provider import MetricsProvider, ProviderChoice, choose_provider
from turnout.analysis.sequential import Decision, MixtureSPRT, RateTest, WaldSPRT
from turnout.analysis.watch import Watcher, WatchResult, WatchState, state_key

__all__ = [
    "Baseline",
    "Decision",
    "Judge",
    "MetricLimits",
    "MetricsProvider",
    "MixtureSPRT",
    "ProviderChoice",
    "RateTest",
    "WaldSPRT",
    "WatchResult",
    "WatchState",
    "Watcher",
    "choose_provider",
    "derive_limits",
    "measure_baseline",
    "state_key",
]
