"""`turnout watch`: keep judging production through the rollback window; roll back on a
regression.

The watch picks the environment's latest successful deployment, carries on with
the analysis record its `verify` step left (same totals from the swap on, so
the false-rollback bound covers verification and watch together), and polls
until the window ends. On a regression it records the evidence, swaps back
with `turnout.runbook.rollback.rollback` (lock, swap, health checks, audit)
and notifies. Its state is saved at every look: stop it at any time and start
it again to carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import headline
from turnout.analysis.observation import Observation
from turnout.analysis.proven import record_proven
from turnout.analysis.provider import choose_provider
from turnout.analysis.watch import Watcher
from turnout.clock import Clock
from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.errors import BadInput, LockHeld, NeedsPerson, RolledBack
from turnout.model import DeploymentStatus
from turnout.store import Store
from turnout.store.deployment_data import WatchRecord, WatchStatus
from turnout.store.records import AuditAction, DeploymentRecord
from turnout.targets.protocol import PRODUCTION, Target

# How often (seconds) the watch checks that production still runs the watched version.
SUPERSEDED_CHECK_EVERY = 10.0


def watched_deployment(store: Store, environment: str) -> DeploymentRecord:
    """What `watch` judges: the environment's latest deployment that was kept (verified or
    accepted) or is held because its verification could not decide."""
    for row in store.deployments(environment, limit=50):
        if row.status == DeploymentStatus.SUCCEEDED.value:
            return row
        failure = row.data.failure
        held = failure is not None and failure.step == "verify"
        if row.status == DeploymentStatus.NEEDS_PERSON.value and held:
            return row
    raise BadInput(f"{environment}: no kept or held deployment to watch")


def _outputs(store: Store, deployment_id: int, step: str) -> dict[str, Any]:
    for row in store.steps(deployment_id):
        if row.name == step:
            return dict(row.outputs or {})
    return {}


def watch_environment(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    clock: Clock,
    *,
    actor: str,
    duration: float | None = None,
    target: Target | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Watch until the rollback window ends (or `duration` seconds from now).

    Returns a JSON-ready document when the window ended or there was nothing to do;
    raises RolledBack (exit 4) after an automatic rollback, NeedsPerson (exit 5) when a
    regression was found but could not be rolled back.
    """
    row = watched_deployment(store, env.name)
    doc: dict[str, Any] = {"environment": env.name, "deployment": row.id, "version": row.version}
    if row.rolled_back_later is not None:
        return {**doc, "status": "rolled-back", "summary": f"{row.version} was rolled back"}
    swap = _outputs(store, row.id, "swap")
    swapped_at = swap.get("swapped_at")
    if not isinstance(swapped_at, int | float):
        raise BadInput(f"{env.name}: deployment {row.id} has no recorded swap time to watch from")
    analysis = env.analysis
    window = analysis.emergency_watch_for if row.emergency else analysis.watch_for
    now = clock.now().timestamp()
    end = float(swapped_at) + window if duration is None else now + duration
    doc.update({"swapped_at": swapped_at, "until": end})
    if now >= end:
        return {**doc, "status": "window-over", "summary": "the rollback window is over"}

    if target is None:
        from turnout.targets.registry import create_target

        target = create_target(config, env)
    live = target.slots().get(PRODUCTION)
    if live is None or live.version != row.version:
        found = live.version if live else "nothing"
        return {
            **doc,
            "status": "superseded",
            "summary": f"production runs {found}, not {row.version}: nothing to watch",
        }
    choice = choose_provider(config, env, target)
    if choice.provider is None:
        raise BadInput(f"{env.name}: cannot watch, {choice.note}")
    provider = choice.provider

    snapshot = _outputs(store, row.id, "snapshot").get("baseline")
    baseline = Baseline.from_dict(snapshot) if isinstance(snapshot, dict) else None
    observation = Observation(
        env,
        store,
        clock,
        target,
        provider,
        deployment_id=row.id,
        version=row.version,
        swapped_at=float(swapped_at),
        emergency=row.emergency,
        baseline=baseline,
        phase="watch",
        progress=progress,
    )
    state, judge, watcher = observation.state, observation.judge, observation.watcher
    if state.status == "rolled-back":
        return {**doc, "status": "rolled-back", "summary": "already rolled back by a watch"}
    state.status = "watching"
    checked = [clock.monotonic()]

    def keep_going() -> str | None:
        if clock.monotonic() - checked[0] < SUPERSEDED_CHECK_EVERY:
            return None
        checked[0] = clock.monotonic()
        current = target.slots().get(PRODUCTION)
        if current is None or current.version != row.version:
            return f"production now runs {current.version if current else 'nothing'}"
        return None

    progress(
        f"watching {env.name} {row.version} until {end - now:.0f} s from now"
        f" ({choice.note}); error limit {judge.limits[0].p1:.3%},"
        f" latency limit {judge.latency_limit_ms:g} ms"
    )
    try:
        result = observation.run(deadline=end, stop_on_pass=False, keep_going=keep_going)
    finally:
        batch = observation.probe_batch
        provider.close()
    if batch is not None:
        doc["probes"] = [batch]
        _keep_probe_batch(store, row, batch)
    verdict = result.verdict
    doc["verdict"] = verdict.to_dict()
    if result.reason.startswith("stopped"):
        return {**doc, "status": "superseded", "summary": result.reason}
    if result.reason != "regressed":
        state.status = "ended"
        watcher.save()
        store.update_deployment_data(
            row.id, watch=WatchRecord(WatchStatus.PASSED, summary=verdict.summary, until=end)
        )
        store.audit(
            actor,
            AuditAction.WATCH_ENDED,
            environment=env.name,
            deployment_id=row.id,
            summary=verdict.summary,
        )
        proven = record_proven(store, row, verdict, actor)
        if proven is not None:
            return {**doc, "status": "passed", "proven": True, "summary": proven}
        return {**doc, "status": "passed", "summary": f"no regression: {verdict.summary}"}
    return _roll_back(config, env, store, row, watcher, verdict_doc=doc, actor=actor, target=target)


def _keep_probe_batch(store: Store, row: DeploymentRecord, batch: dict[str, Any]) -> None:
    store.update_deployment_data(row.id, watch_probes=[*row.data.watch_probes, batch])


def _roll_back(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    row: DeploymentRecord,
    watcher: Watcher,
    *,
    verdict_doc: dict[str, Any],
    actor: str,
    target: Target,
) -> dict[str, Any]:
    from turnout.model import Verdict, VerdictKind
    from turnout.runbook.rollback import rollback

    record = verdict_doc["verdict"]
    verdict = Verdict(
        VerdictKind.FAIL, record["summary"], list(record["reasons"]), dict(record["evidence"])
    )
    figures = headline(verdict)
    # The decision is audited before acting on it, so it is on record even if the swap fails.
    store.audit(
        actor,
        AuditAction.WATCH_REGRESSED,
        environment=env.name,
        deployment_id=row.id,
        summary=verdict.summary,
        evidence=figures,
    )
    store.update_deployment_data(row.id, watch=WatchRecord(WatchStatus.REGRESSED, verdict=record))
    try:
        outcome = rollback(
            config,
            env,
            store,
            actor,
            reason=f"turnout watch: {verdict.summary}",
            target=target,
        )
    except LockHeld as exc:
        raise NeedsPerson(
            f"{env.name}: {row.version} regressed ({verdict.summary}) but the environment"
            f" is locked ({exc.message}); roll back by hand: turnout rollback --env {env.name}",
            details=figures,
        ) from exc
    except BadInput as exc:
        raise NeedsPerson(
            f"{env.name}: {row.version} regressed ({verdict.summary}) and cannot be swapped"
            f" back: {exc.message}",
            details=figures,
        ) from exc
    watcher.state.status = "rolled-back"
    watcher.save()
    store.update_deployment_data(
        row.id, watch=WatchRecord(WatchStatus.ROLLED_BACK, verdict=record, rollback=outcome)
    )
    _notify(config, env, row, verdict.summary, figures, outcome)
    document = {
        **verdict_doc,
        "status": "rolled-back",
        "rollback": outcome,
        "summary": f"{row.version} regressed ({verdict.summary}); {outcome['summary']}",
    }
    raise RolledBack(document["summary"], details=document)


def _notify(
    config: LoadedConfig,
    env: EnvironmentConfig,
    row: DeploymentRecord,
    summary: str,
    figures: dict[str, Any],
    outcome: dict[str, Any],
) -> None:
    from turnout.integrations.messages import MessageKind
    from turnout.integrations.notify import notifier_for

    # Announcing never stands in the way of the rollback that already happened.
    try:
        notifier_for(config, env, console=lambda _text: None).send(
            MessageKind.ROLLBACK,
            {
                "environment": env.name,
                "version": row.version,
                "live_version": outcome.get("to"),
                "failed_step": "watch",
                "error": summary,
                "evidence": figures,
                "deployer": row.deployer,
            },
        )
    except Exception:  # a notification problem is logged by the notifier itself
        return
