"""`turnout report`: success metrics and DORA figures from history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from turnout.cli.common import (
    ConfigOption,
    JsonOption,
    OptionalEnvOption,
    console,
    emit_json,
)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.4g} %"


def report(
    env: OptionalEnvOption = None,
    days: Annotated[
        float, typer.Option(help="Look back this many days.", min=0.0, max=36500.0)
    ] = 30.0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Success metrics (error rate, p95, availability, rollback rate) and DORA figures."""
    from turnout.api import report as figures

    result = figures(env, days=days, config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    print_report(result.to_dict())


def print_report(document: dict[str, Any]) -> None:
    """Human rendering of a report."""
    runbook, dora, counts = document["runbook"], document["dora"], document["deployments"]
    targets = runbook["targets"]
    defaults = runbook.get("runbook_targets", targets)

    def differs(key: str, shown: str) -> str:
        # A configured limit is what deployments were judged against; the runbook's is named.
        return "" if targets[key] == defaults[key] else f" (configured; runbook: {shown})"

    p95 = runbook["p95_ms"]
    console.print(
        f"[bold]success metrics[/] — {document['environment']}, last {document['days']:g} days"
    )
    console.print(
        f"  deployments: {counts['succeeded']} succeeded, {counts['rolled_back']} rolled"
        f" back, {counts['rolled_back_later']} rolled back later,"
        f" {counts['needs_person']} needed a person, {counts['refused']} refused"
    )
    console.print(
        f"  error rate    {_pct(runbook['error_rate']):>10}  target < "
        f"{_pct(targets['error_rate'])}{differs('error_rate', _pct(defaults['error_rate']))}"
        f" ({runbook['measured_requests']} requests judged)"
    )
    p95_default = f"{defaults['p95_ms']:g} ms"
    console.print(
        f"  p95           {'n/a' if p95 is None else f'{p95:.0f} ms':>10}  target <"
        f" {targets['p95_ms']:g} ms{differs('p95_ms', p95_default)}"
    )
    console.print(
        f"  availability  {_pct(runbook['availability']):>10}  target >"
        f" {_pct(targets['availability'])}"
    )
    console.print(
        f"  rollback rate {_pct(runbook['rollback_rate']):>10}  target <"
        f" {_pct(targets['rollback_rate'])}"
    )
    restore = dora["median_time_to_restore_s"]
    duration = dora["median_deploy_duration_s"]
    console.print(
        f"  DORA: {dora['deployment_frequency_per_day']:.2f} deployments/day, change"
        f" failure rate {_pct(dora['change_failure_rate'])}, time to restore"
        f" {'n/a' if restore is None else f'{restore:.1f} s'}, deploy duration"
        f" {'n/a' if duration is None else f'{duration:.1f} s'}"
    )


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("report")(report)
