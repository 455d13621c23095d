"""Phase 1.2 and 6.3: open the deployment tracking issue, and close it with the outcome.

Opening happens before anything changes, so a tracker that cannot be reached fails the
step (nothing to undo). Comments and closing happen while and after the deployment is
decided: what could not be posted is recorded with the deployment (`tracking_problems`)
and told with its outcome, never turned into a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turnout.errors import IntegrationUnavailable, StepError, TurnoutError, Unavailable
from turnout.integrations.messages import evidence_lines
from turnout.integrations.tracker import (
    TrackingIssue,
    ensure_issue,
    issue_body,
    issue_title,
    tracker_for,
)
from turnout.model import StepStatus
from turnout.runbook.outputs import ChecklistOutputs, CloseOutputs, TrackOutputs
from turnout.runbook.step import Outcome, Step, StepContext

_OUTCOME_TEXT = {
    Outcome.ROLLED_BACK: "Deployment failed and was rolled back.",
    Outcome.REFUSED: "Deployment refused before any change.",
    Outcome.NEEDS_PERSON: "Deployment failed and needs a person.",
}


def recorded_issue(ctx: StepContext) -> TrackingIssue | None:
    """The deployment's tracking issue, from the track step's outputs or the record."""
    track = ctx.output(TrackOutputs)
    issue: Any = track.issue if track is not None else None
    if not isinstance(issue, Mapping):
        issue = ctx.recorded_data().other.get("tracking_issue")
    return TrackingIssue.from_dict(issue) if isinstance(issue, Mapping) else None


def tracking_problems(ctx: StepContext) -> list[str]:
    """What could not be posted to the deployment's tracking issue, in order."""
    return list(ctx.recorded_data().tracking_problems)


def record_problem(ctx: StepContext, issue: TrackingIssue, what: str, error: str) -> None:
    """Remember (with the deployment) that something was not posted to its issue."""
    where = f"#{issue.ref}" if issue.kind == "github" else "(local)"
    text = f"tracking issue {where}: {what} not posted: {error}"
    ctx.progress(text)
    problems = [*tracking_problems(ctx), text]
    ctx.store.update_deployment_data(ctx.deployment.id, tracking_problems=problems)


def note_phase(ctx: StepContext, text: str, *, what: str = "comment") -> bool:
    """Comment on the tracking issue (best effort); True when the comment was added.

    For the engine (a comment at the end of each phase) and for steps with news; a
    comment that could not be posted is recorded as a tracking problem.
    """
    issue = recorded_issue(ctx)
    if issue is None:
        return False
    try:
        tracker_for(ctx.config, ctx.env, ctx.store).comment(issue, text)
    except TurnoutError as exc:
        record_problem(ctx, issue, what, exc.message)
        return False
    return True


def phase_summary(ctx: StepContext) -> list[str]:
    """One line per step of the plan with its journal status."""
    return [f"- `{name}`: {status}" for name, status in ctx.statuses.items()]


class TrackStep(Step):
    """Runbook Phase 1.2: create the tracking issue with the checklist."""

    name = "track"
    changes_production = False
    phase = "pre-deployment"

    def phase_ended(self, ctx: StepContext, phase: str) -> None:
        """Comment on the tracking issue at the end of each phase (not once it is closed)."""
        if ctx.succeeded("close"):
            return  # the closing comment already lists every step
        done = [
            f"- `{name}`: {status}"
            for name, status in ctx.statuses.items()
            if status in {StepStatus.SUCCEEDED, StepStatus.SKIPPED} and ctx.has_outputs(name)
        ]
        note_phase(
            ctx,
            f"Phase **{phase}** done.\n" + "\n".join(done[-8:]),
            what=f"comment on phase {phase}",
        )

    def observe(self, ctx: StepContext) -> TrackOutputs | None:
        found = ctx.recorded_data().other.get("tracking_issue")
        if not isinstance(found, Mapping):
            return None
        issue = TrackingIssue.from_dict(found)
        return TrackOutputs(
            summary=f"tracking issue already open: {issue.title}", issue=issue.to_dict()
        )

    def run(self, ctx: StepContext) -> TrackOutputs:
        title = issue_title(ctx.env, ctx.deployment, ctx.deployment.created_at)
        plan = list(ctx.statuses)
        checklist = ctx.output(ChecklistOutputs)
        body = issue_body(ctx.deployment, plan, checklist.journal() if checklist else None)
        try:
            tracker = tracker_for(ctx.config, ctx.env, ctx.store)
            issue, opened = ensure_issue(tracker, ctx.deployment, title, body)
        except TurnoutError as exc:
            # A tracker nobody answers is still that (exit 3 while nothing changed yet).
            failed = IntegrationUnavailable if isinstance(exc, Unavailable) else StepError
            raise failed(
                f"tracking issue: {exc.message}",
                details={"tracker": ctx.env.integrations.tracker.kind},
            ) from exc
        ctx.store.merge_deployment_data(ctx.deployment.id, tracking_issue=issue.to_dict())
        where = f" {issue.url}" if issue.url else ""
        verb = "opened" if opened else "found"
        return TrackOutputs(
            summary=f"tracking issue {verb}: {issue.title}{where}", issue=issue.to_dict()
        )

    def unreported(self, ctx: StepContext) -> list[str]:
        return tracking_problems(ctx)

    def after(self, ctx: StepContext, outcome: Outcome) -> None:
        # On success the close step has already closed it; otherwise close with the reason.
        text = _OUTCOME_TEXT.get(outcome)
        issue = recorded_issue(ctx)
        if text is None or issue is None:
            return
        lines = [text]
        failure = ctx.failure_record
        if failure is not None and failure.step:
            lines.append(f"\n**Failed step:** `{failure.step}`: {failure.error}")
        details = failure.details if failure is not None else None
        evidence = details.get("evidence") if details is not None else None
        flat = evidence_lines(evidence if evidence is not None else details)
        if flat:
            lines += ["\n**Evidence:**", *(f"- {line}" for line in flat)]
        lines += ["\n**Steps:**", *phase_summary(ctx)]
        try:
            tracker_for(ctx.config, ctx.env, ctx.store).close(
                issue, "\n".join(lines), success=False
            )
        except TurnoutError as exc:
            record_problem(ctx, issue, "outcome comment and close", exc.message)


class CloseStep(Step):
    """Runbook Phase 6.3: close the tracking issue, deployment completed."""

    name = "close"
    phase = "communication"

    def observe(self, ctx: StepContext) -> CloseOutputs | None:
        issue = recorded_issue(ctx)
        if issue is None:
            return CloseOutputs(summary="no tracking issue to close")
        try:
            closed = tracker_for(ctx.config, ctx.env, ctx.store).is_closed(issue)
        except TurnoutError:
            return None
        if not closed:
            return None
        return CloseOutputs(
            summary=f"tracking issue already closed: {issue.title}", issue=issue.to_dict()
        )

    def run(self, ctx: StepContext) -> CloseOutputs:
        issue = recorded_issue(ctx)
        if issue is None:
            return CloseOutputs(summary="no tracking issue to close")
        text = "\n".join(
            [
                "Deployment completed successfully. All health checks passing.",
                f"\n**Version:** {ctx.deployment.version}",
                "\n**Steps:**",
                *phase_summary(ctx),
            ]
        )
        try:
            tracker_for(ctx.config, ctx.env, ctx.store).close(issue, text, success=True)
        except TurnoutError as exc:
            # The release is verified: a tracker outage must not roll it back.
            record_problem(ctx, issue, "closing comment and close", exc.message)
            return CloseOutputs(
                summary=f"tracking issue NOT closed: {exc.message}",
                issue=issue.to_dict(),
                closed=False,
                error=exc.message,
            )
        return CloseOutputs(
            summary=f"tracking issue closed: {issue.title}", issue=issue.to_dict(), closed=True
        )
