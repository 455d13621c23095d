"""The durable engine: journal every transition, hold the environment lock, compensate.

A deployment is a row and its plan a list of journal entries written when it
starts. Every transition is committed before the next action, so a process
killed at any instant leaves a journal that `resume` can finish or compensate
from. Compensation undoes completed steps in reverse order.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from turnout.clock import Clock, SystemClock
from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.errors import (
    ApprovalRequired,
    BadInput,
    LockHeld,
    NeedsPerson,
    Refused,
    TurnoutError,
)
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, Release, StepStatus
from turnout.runbook.checkpoint import Checkpoint, Moment, Point, installed
from turnout.runbook.compensation import compensate, error_text, journaled
from turnout.runbook.journal import DONE, Journal, load_operations
from turnout.runbook.lease import Lease, TakeOver
from turnout.runbook.outputs import VerifyOutputs
from turnout.runbook.plan import plan_steps
from turnout.runbook.step import Outcome, Step, StepContext
from turnout.runbook.steps import load_step
from turnout.store import Store
from turnout.store.deployment_data import FailureRecord
from turnout.store.records import AuditAction, DeploymentRecord, NewDeployment
from turnout.targets.protocol import Target
from turnout.versions import check_version


@dataclass(frozen=True)
class StepEvent:
    """A progress event for the CLI's display."""

    deployment_id: int
    step: str
    phase: str
    status: str
    elapsed: float = 0.0
    message: str = ""


@dataclass
class Result:
    """How a deployment run ended (maps to the CLI exit code)."""

    deployment_id: int
    status: DeploymentStatus
    exit_code: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Runs, resumes and compensates deployments of one environment."""

    def __init__(
        self,
        config: LoadedConfig,
        env: EnvironmentConfig,
        store: Store,
        *,
        clock: Clock | None = None,
        on_event: Callable[[StepEvent], None] | None = None,
        target_factory: Callable[[], Target] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.config = config
        self.env = env
        self.store = store
        self.clock = clock or SystemClock()
        self.on_event = on_event or (lambda _event: None)
        self.target_factory = target_factory
        self.checkpoint = checkpoint or installed()
        """Called at each step boundary with the journal committed (see checkpoint.py)."""
        self._target: Target | None = None
        self._lease: Lease | None = None
        self._hook_failures: list[str] = []
        """Hooks (announcements, comments) that raised while this engine ran."""
        self.step_seconds: dict[str, float] = {}
        """Time spent inside each step's observe/run (the rest is the engine's own work)."""

    # -- entry points -----------------------------------------------------------------
    def deploy(
        self,
        release: Release,
        kind: DeploymentType,
        deployer: str,
        *,
        emergency: bool = False,
        reason: str | None = None,
        changes: str = "",
        data: dict[str, Any] | None = None,
    ) -> Result:
        """Start a deployment: take the lock, write the plan, run it."""
        check_version(release.version)
        lease = Lease(self.store, self.env.name, deployer, clock=self.clock)
        lease.acquire()
        self._lease = lease
        deployment_id: int | None = None
        try:
            pending = self.store.unfinished(self.env.name)
            if pending is not None and pending.status != DeploymentStatus.WAITING_APPROVAL.value:
                raise LockHeld(
                    f"deployment {pending.id} of {pending.version} to {self.env.name} was"
                    f" interrupted ({pending.status}); finish it first with"
                    f" `turnout resume --env {self.env.name}`"
                )
            self._supersede_waiting(deployer)
            new = NewDeployment(
                environment=self.env.name,
                version=release.version,
                previous_version=self.last_verified_version(),
                type=kind,
                status=DeploymentStatus.RUNNING,
                deployer=deployer,
                emergency=emergency,
                reason=reason,
                changes=changes,
                package=str(release.package) if release.package else None,
                plan=tuple(plan_steps(self.env, kind)),
                started_at=self.clock.now(),
                data=data or {},
            )
            row = self.store.start_deployment(lease.holder, new)
            deployment_id = row.id
            self.store.audit(
                deployer,
                AuditAction.DEPLOY_START,
                environment=self.env.name,
                deployment_id=row.id,
                version=release.version,
                type=kind.value,
                emergency=emergency,
                reason=reason,
            )
            return self._drive(row.id, lease)
        finally:
            self._release_if_settled(lease, deployment_id)

    def resume(self, actor: str, *, force_unlock: bool = False) -> Result | None:
        """Continue (or finish compensating) the interrupted deployment; None if there is none."""
        lease = Lease(self.store, self.env.name, actor, clock=self.clock)
        self._take_lease_for_resume(lease, force_unlock)
        self._lease = lease
        deployment_id: int | None = None
        try:
            # Read only once the lock is ours: another resume may have just finished it.
            row = self.store.unfinished(self.env.name)
            if row is None:
                return None
            deployment_id = row.id
            lease.attach(row.id)
            self.store.audit(
                actor,
                AuditAction.DEPLOY_RESUME,
                environment=self.env.name,
                deployment_id=row.id,
                status=row.status,
            )
            failed = [s for s in self.store.steps(row.id) if s.status is StepStatus.FAILED]
            if row.status == DeploymentStatus.COMPENSATING.value or (
                failed and not load_step(failed[0].name).gate
            ):
                # Killed after a step failed: what it may have done is undone, never retried.
                if failed and row.data.failure is None:
                    self.store.update_deployment_data(
                        row.id, failure=FailureRecord(failed[0].name, failed[0].error or "")
                    )
                    row = self.store.deployment(row.id) or row
                self.store.update_deployment(row.id, status=DeploymentStatus.COMPENSATING.value)
                with lease.beating():
                    return self._compensate_and_finish(row.id, self._context(row))
            if row.status == DeploymentStatus.WAITING_APPROVAL.value:
                # An approval may come days later: the window and checklist are judged again.
                for step_row in self.store.steps(row.id):
                    if step_row.status in DONE and load_step(step_row.name).gate:
                        self.store.record_step(row.id, step_row.name, StepStatus.PENDING)
            self.store.update_deployment(row.id, status=DeploymentStatus.RUNNING.value)
            self.store.update_deployment_data(row.id, failure=None)
            return self._drive(row.id, lease)
        finally:
            self._release_if_settled(lease, deployment_id)

    def unfinished(self) -> DeploymentRecord | None:
        """The newest deployment of this environment that has not ended, if any."""
        return self.store.unfinished(self.env.name)

    # -- locking ----------------------------------------------------------------------
    def _release_if_settled(self, lease: Lease, deployment_id: int | None) -> None:
        """Free the lease unless our deployment is still in flight.

        An exception or an interrupt in the middle of a deployment keeps the lease, so
        nobody else deploys over it; `resume` takes it over once this process is gone.
        """
        row = None if deployment_id is None else self.store.deployment(deployment_id)
        settled = row is None or row.status in {
            DeploymentStatus.WAITING_APPROVAL.value,
            *(s.value for s in DeploymentStatus if s.finished),
        }
        if settled:
            lease.release()

    def _take_lease_for_resume(self, lease: Lease, force_unlock: bool) -> None:
        taken = lease.take_over(force=force_unlock)
        if taken is not None and taken.how is TakeOver.FORCED:
            self.on_event(
                StepEvent(
                    taken.previous.deployment_id or 0,
                    "",
                    "",
                    "progress",
                    message=f"took the lock of {self.env.name} from {taken.previous.holder},"
                    " who looked alive (--force-unlock, audited)",
                )
            )

    def _supersede_waiting(self, actor: str) -> None:
        # A new deploy replaces one that still waits for approval (it never changed anything).
        waiting = DeploymentStatus.WAITING_APPROVAL.value
        for row in self.store.deployments(self.env.name, limit=20, status=waiting):
            self.store.update_deployment(
                row.id,
                status=DeploymentStatus.REFUSED.value,
                exit_code=Outcome.REFUSED.exit_code,
                message="superseded by a newer deployment",
            )
            self.store.audit(
                actor,
                AuditAction.DEPLOY_SUPERSEDED,
                environment=self.env.name,
                deployment_id=row.id,
            )

    def _keep_lock(self, deployment_id: int) -> None:
        """Refresh the heartbeat before each step; stop if the lease was taken away."""
        if self._lease is not None:
            self._lease.keep(f"deployment {deployment_id}")

    # -- driving ----------------------------------------------------------------------
    def _context(self, row: DeploymentRecord) -> StepContext:
        info = DeploymentInfo(
            id=row.id,
            environment=row.environment,
            version=row.version,
            type=DeploymentType(row.type),
            deployer=row.deployer,
            created_at=row.created_at,
            package=None if row.package is None else Path(row.package),
            previous_version=row.previous_version,
            emergency=row.emergency,
            reason=row.reason,
            changes=row.changes,
        )
        ctx = StepContext(
            config=self.config,
            env=self.env,
            deployment=info,
            store=self.store,
            clock=self.clock,
            target_factory=self._shared_target,
        )
        ctx.progress = lambda message: self.on_event(
            StepEvent(row.id, "", "", "progress", message=message)
        )
        for step_row in self.store.steps(row.id):
            ctx.statuses[step_row.name] = step_row.status
            if step_row.status in DONE or step_row.status in {
                StepStatus.UNDOING,
                StepStatus.UNDONE,
            }:
                ctx.outputs[step_row.name] = dict(step_row.outputs or {})
        load_operations(ctx, self.store.steps(row.id))
        ctx.keep_operation = Journal(self.store, ctx).keep_operation
        ctx.failure_record = row.data.failure
        return ctx

    def _shared_target(self) -> Target:
        if self._target is None:
            if self.target_factory is not None:
                self._target = self.target_factory()
            else:
                from turnout.targets.registry import create_target

                self._target = create_target(self.config, self.env)
        return self._target

    def _drive(self, deployment_id: int, lease: Lease) -> Result:
        row = self.store.deployment(deployment_id)
        assert row is not None
        ctx = self._context(row)
        with lease.beating():
            rows = self.store.steps(deployment_id)
            if not rows:
                raise TurnoutError(f"deployment {deployment_id} has no journal; not running it")
            for index, step_row in enumerate(rows):
                if step_row.status in DONE:
                    continue
                step = load_step(step_row.name)
                self._keep_lock(deployment_id)
                failure = self._run_step(ctx, step)
                if failure is not None:
                    return self._on_failure(ctx, step, failure)
                following = rows[index + 1].name if index + 1 < len(rows) else None
                if following is None or load_step(following).phase != step.phase:
                    self._phase_ended(ctx, step.phase)
            self._keep_lock(deployment_id)
            return self._succeed(ctx)

    def _run_step(self, ctx: StepContext, step: Step) -> BaseException | None:
        journal = Journal(self.store, ctx)
        started = self.clock.monotonic()
        if ctx.statuses.get(step.name) is StepStatus.RUNNING:
            ctx.cut_off.add(step.name)
        journal.record(step.name, StepStatus.RUNNING)
        self._event(ctx, step, "running")
        self.checkpoint(Point(Moment.BEFORE, step.name))
        inside = self.clock.monotonic()
        try:
            found = step.observe(ctx)
            observed = found is not None
            outputs = journaled(found if found is not None else step.run(ctx))
            if observed:
                outputs["observed"] = True
        except Exception as exc:  # every failure is journaled, then handled
            self.step_seconds[step.name] = self.clock.monotonic() - inside
            error = _error_text(exc)
            journal.record(step.name, StepStatus.FAILED, error=error, outputs=_details(exc))
            self._event(ctx, step, "failed", self.clock.monotonic() - started, error)
            return exc
        self.step_seconds[step.name] = self.clock.monotonic() - inside
        journal.record(step.name, StepStatus.SUCCEEDED, outputs=outputs)
        self._event(
            ctx,
            step,
            "succeeded",
            self.clock.monotonic() - started,
            str(outputs.get("summary", "")),
        )
        self.checkpoint(Point(Moment.AFTER, step.name))
        return None

    def _event(
        self, ctx: StepContext, step: Step, status: str, elapsed: float = 0.0, message: str = ""
    ) -> None:
        self.on_event(StepEvent(ctx.deployment.id, step.name, step.phase, status, elapsed, message))

    # -- endings ----------------------------------------------------------------------
    def _succeed(self, ctx: StepContext) -> Result:
        message = f"{ctx.deployment.version} deployed to {self.env.name} and verified"
        verification = ctx.output(VerifyOutputs) or VerifyOutputs()
        if verification.proven is False:
            # Kept without proof (accepted unproven, or metrics not measured): never "verified".
            message = (
                f"{ctx.deployment.version} deployed to {self.env.name}, not proven healthy:"
                f" {verification.summary or 'metrics not measured'}"
            )
        return self._settle(
            ctx, DeploymentStatus.SUCCEEDED, Outcome.SUCCEEDED.exit_code, message, Outcome.SUCCEEDED
        )

    def _on_failure(self, ctx: StepContext, step: Step, exc: BaseException) -> Result:
        dep_id = ctx.deployment.id
        changed = [
            name
            for name, status in ctx.statuses.items()
            if status in DONE and load_step(name).changed_production()
        ]
        if isinstance(exc, ApprovalRequired):
            self.store.record_step(dep_id, step.name, StepStatus.PENDING, error=exc.message)
            self.store.update_deployment(
                dep_id, status=DeploymentStatus.WAITING_APPROVAL.value, message=exc.message
            )
            self.store.audit(
                ctx.deployment.deployer,
                AuditAction.DEPLOY_WAITING_APPROVAL,
                environment=self.env.name,
                deployment_id=dep_id,
                reason=exc.message,
            )
            return Result(dep_id, DeploymentStatus.WAITING_APPROVAL, exc.exit_code, exc.message)
        failure = FailureRecord(step.name, _error_text(exc), details=_details(exc))
        ctx.failure_record = failure
        self.store.update_deployment_data(dep_id, failure=failure)
        if isinstance(exc, Refused | BadInput) and not changed:
            return self._settle(
                ctx, DeploymentStatus.REFUSED, exc.exit_code, exc.message, Outcome.REFUSED, {}
            )
        if isinstance(exc, NeedsPerson):
            message = f"{step.name}: {exc.message}"
            return self._settle(
                ctx, DeploymentStatus.NEEDS_PERSON, exc.exit_code, message, Outcome.NEEDS_PERSON
            )
        if not isinstance(exc, TurnoutError):
            failure = replace(failure, traceback="".join(traceback.format_exception(exc))[-4000:])
            ctx.failure_record = failure
            self.store.update_deployment_data(dep_id, failure=failure)
        self.store.update_deployment(dep_id, status=DeploymentStatus.COMPENSATING.value)
        return self._compensate_and_finish(dep_id, ctx)

    def _compensate_and_finish(self, dep_id: int, ctx: StepContext) -> Result:
        failure = ctx.failure_record
        failed_step = failure.step if failure is not None else "?"
        error = failure.error if failure is not None else "failed"
        undo_failure = compensate(
            Journal(self.store, ctx),
            keep_lease=lambda: self._keep_lock(dep_id),
            checkpoint=self.checkpoint,
            tell=lambda step, status, message: self._event(
                ctx, step, status.value, message=message
            ),
        )
        if undo_failure is not None:
            message = (
                f"{failed_step} failed ({error}) and compensation failed"
                f" ({undo_failure}); run `turnout status --env"
                f" {self.env.name}` and act by hand"
            )
            return self._settle(
                ctx,
                DeploymentStatus.NEEDS_PERSON,
                Outcome.NEEDS_PERSON.exit_code,
                message,
                Outcome.NEEDS_PERSON,
            )
        message = f"{failed_step} failed: {error}; rolled back"
        return self._settle(
            ctx,
            DeploymentStatus.ROLLED_BACK,
            Outcome.ROLLED_BACK.exit_code,
            message,
            Outcome.ROLLED_BACK,
        )

    def _settle(
        self,
        ctx: StepContext,
        status: DeploymentStatus,
        code: int,
        message: str,
        outcome: Outcome,
        details: dict[str, Any] | None = None,
    ) -> Result:
        """Record the ending, run the steps' `after` hooks, and say what they could not do.

        A phase comment or a close that did not reach the tracking issue (or any other
        hook that failed) is added to the deployment's message: the outcome stands, but
        nobody should believe the issue tells the whole story.
        """
        dep_id = ctx.deployment.id
        self._finish(ctx, status, code, message)
        self._after(ctx, outcome)
        problems = self._unposted(ctx)
        if problems:
            message = f"{message}; " + "; ".join(problems)
            self.store.update_deployment(dep_id, message=message)
        if details is None:
            failure = ctx.failure_record
            ended_badly = failure is not None and status is not DeploymentStatus.SUCCEEDED
            details = failure.to_dict() if ended_badly and failure is not None else {}
        return Result(dep_id, status, code, message, details)

    def _unposted(self, ctx: StepContext) -> list[str]:
        problems: list[str] = []
        for entry in self.store.steps(ctx.deployment.id):
            problems += load_step(entry.name).unreported(ctx)
        return problems + self._hook_failures

    def _finish(self, ctx: StepContext, status: DeploymentStatus, code: int, message: str) -> None:
        dep_id = ctx.deployment.id
        self.store.update_deployment(
            dep_id,
            status=status.value,
            exit_code=code,
            message=message,
            finished_at=self.clock.now(),
        )
        self.store.audit(
            ctx.deployment.deployer,
            AuditAction.deployment_ended(status),
            environment=self.env.name,
            deployment_id=dep_id,
            message=message,
            failure=None if ctx.failure_record is None else ctx.failure_record.to_dict(),
        )

    def _phase_ended(self, ctx: StepContext, phase: str) -> None:
        self._hooks(ctx, lambda done: done.phase_ended(ctx, phase))

    def _after(self, ctx: StepContext, outcome: Outcome) -> None:
        self._hooks(ctx, lambda done: done.after(ctx, outcome))

    def _hooks(self, ctx: StepContext, call: Callable[[Step], None]) -> None:
        # Hooks announce, comment and close; failures are recorded, never change the outcome.
        for step_row in self.store.steps(ctx.deployment.id):
            if step_row.status not in DONE | {StepStatus.UNDONE}:
                continue
            try:
                call(load_step(step_row.name))
            except Exception as exc:  # best effort by design
                self._hook_failures.append(f"{step_row.name}: {_error_text(exc)}")
                self.store.audit(
                    "turnout",
                    AuditAction.HOOK_FAILED,
                    environment=self.env.name,
                    deployment_id=ctx.deployment.id,
                    step=step_row.name,
                    error=_error_text(exc),
                )

    def last_verified_version(self) -> str | None:
        """Version of the environment's newest succeeded deployment."""
        for row in self.store.deployments(
            self.env.name, limit=50, status=DeploymentStatus.SUCCEEDED.value
        ):
            if row.rolled_back_later is None:
                return row.version
        return None


def _error_text(exc: BaseException) -> str:
    return error_text(exc)


def _details(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TurnoutError) and exc.details:
        return {"evidence": exc.details}
    return {}
