"""Metric analysis settings: thresholds, sequential tests, observation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.config.base import Section


class AnalysisConfig(Section):
    """How the new version is judged on live traffic after the swap."""

    provider: Literal["router", "prometheus", "none"] = "router"
    max_error_rate: float = Field(default=0.001, ge=0, le=1)
    """Absolute limit from the runbook: error rate < 0.1 %."""
    max_p95_ms: float = Field(default=500.0, gt=0)
    """Absolute limit from the runbook: p95 < 500 ms."""
    baseline_factor: float = Field(default=2.0, gt=1)
    """Relative limit: roll back above this multiple of the pre-deployment baseline."""
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    beta: float = Field(default=0.01, gt=0, lt=0.5)
    baseline_lookback: float = Field(default=3600.0, gt=0)
    """Seconds of the live version's history used for the baseline."""
    warmup_exclude: float = Field(default=0.0, ge=0)
    """Seconds after the swap whose traffic is not judged."""
    min_observation: float = Field(default=5.0, ge=0)
    max_observation: float = Field(default=300.0, gt=0)
    """After this many seconds without a decision: hold and ask a person (exit 5)."""
    watch_for: float = Field(default=1800.0, gt=0)
    emergency_watch_for: float = Field(default=7200.0, gt=0)
