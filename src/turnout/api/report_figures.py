"""`report`: DORA's five measures and the runbook's success metrics per environment, over a
period and (optionally) by week or month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.errors import BadInput
from turnout.reporting.figures import (
    ChangeLeadTime,
    DeploymentFrequency,
    DeploymentLine,
    DoraMeasures,
    EnvironmentReport,
    Kpi,
    OutcomeCounts,
    PeriodFigures,
    Rate,
    RecoveryTime,
    SuccessMetric,
    SuccessMetrics,
    Tier,
    TrendRow,
)

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store

__all__ = [
    "ChangeLeadTime",
    "DeploymentFrequency",
    "DeploymentLine",
    "DoraMeasures",
    "EnvironmentReport",
    "Kpi",
    "OutcomeCounts",
    "PeriodFigures",
    "Rate",
    "RecoveryTime",
    "ReportResult",
    "SuccessMetric",
    "SuccessMetrics",
    "Tier",
    "TrendRow",
    "report",
    "require_plotting",
    "write_page",
]

GROUPINGS = ("week", "month")


@dataclass(frozen=True)
class ReportResult:
    """Each environment's figures over the last `days` days, as of `generated_at`."""

    days: float
    by: str | None
    """"week" or "month" when the report has trend rows."""
    generated_at: datetime
    environments: tuple[EnvironmentReport, ...]

    def environment(self, name: str) -> EnvironmentReport:
        """One environment's report (KeyError when it is not in this report)."""
        for found in self.environments:
            if found.environment == name:
                return found
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout report --json` prints)."""
        return {
            "days": self.days,
            "by": self.by,
            "generated_at": self.generated_at.isoformat(),
            "environments": [e.to_dict() for e in self.environments],
        }


def report(
    env: str | None = None,
    *,
    days: float = 30.0,
    by: str | None = None,
    until: datetime | None = None,
    config: ConfigSource = None,
) -> ReportResult:
    """Figures of `env` (None: every configured environment, each against its own limits)
    over the `days` days before `until` (default: now)."""
    if by is not None and by not in GROUPINGS:
        raise BadInput(f"--by must be week or month, not {by!r}")
    if not 0 < days <= 36500:
        raise BadInput(f"--days must be between 0 and 36500, not {days:g}")
    loaded = load(config)
    environments = [loaded.env(env)] if env is not None else list(loaded.environments.values())
    with open_store(loaded, read_only=True) as store:
        now = store.now() if until is None else until
        reports = tuple(
            _environment(loaded, environment, store, now=now, days=days, by=by)
            for environment in environments
        )
    return ReportResult(days=days, by=by, generated_at=now, environments=reports)


def _environment(
    loaded: LoadedConfig,
    environment: EnvironmentConfig,
    store: Store,
    *,
    now: datetime,
    days: float,
    by: str | None,
) -> EnvironmentReport:
    from turnout.reporting.compute import Grouping, Limits, environment_report
    from turnout.reporting.facts import read_facts
    from turnout.reporting.leadtime import Repository, lead_times

    facts = read_facts(store, environment.name)
    repository = Repository(
        loaded.resolve_path(loaded.root.app.repository),
        environment.integrations.vcs.tag_format,
    )
    return environment_report(
        environment.name,
        facts,
        lead_times(repository, facts),
        Limits(
            max_error_rate=environment.analysis.max_error_rate,
            max_p95_ms=environment.analysis.max_p95_ms,
            timezone=environment.policy.timezone,
        ),
        now=now,
        days=days,
        by=None if by is None else Grouping(by),
    )


def require_plotting() -> None:
    """BadInput (exit 2) naming the extra to install when the charts cannot be drawn."""
    from turnout.reporting.page import require_plotting as check

    check()


def write_page(result: ReportResult, path: Path) -> None:
    """Write the report as one self-contained HTML page with charts (`--html`)."""
    from turnout.reporting.page import write_page as write

    write(result, path)
