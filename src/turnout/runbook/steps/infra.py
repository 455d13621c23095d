"""Phase 2: the infrastructure deployment, as the runbook's GitHub Actions workflow (or an
ARM template, `kind = "arm"`: infra_arm.py).

The run id is kept in the deployment record as soon as GitHub names it, so a resumed
deployment follows the same run instead of dispatching a second one.
"""

from __future__ import annotations

from typing import Any

from turnout.config.arm import ArmInfraConfig
from turnout.errors import NotSupported, StepError, TurnoutError
from turnout.integrations.gh import github_client, repository
from turnout.integrations.workflows import dispatch, follow, get_workflow
from turnout.runbook.outputs import StepOutputs
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.infra_arm import ArmInfraStep
from turnout.runbook.steps.track import note_phase


class InfraStep(Step):
    """Dispatch the configured workflow (deploy-infrastructure.yml) and follow it, or
    deploy the ARM template (`kind = "arm"`)."""

    name = "infra"
    phase = "infrastructure"

    def _settings(self, ctx: StepContext) -> Any:
        settings = ctx.env.integrations.infra
        if settings is None:
            raise NotSupported(
                f"environment {ctx.env.name} has no infrastructure phase configured"
                f" (set [environments.{ctx.env.name}.integrations.infra] with the workflow"
                " to dispatch, or deploy with --type app)"
            )
        return settings

    def _repo(self, ctx: StepContext) -> Any:
        settings = self._settings(ctx)
        github = ctx.env.integrations.github
        assert github.token is not None  # enforced when the configuration loads
        client = github_client(
            github.token,
            github.base_url,
            key=f"environments.{ctx.env.name}.integrations.github.token",
            file=str(ctx.config.path),
        )
        name = settings.repository or github.repository
        assert name is not None  # enforced when the configuration loads
        return repository(client, name)

    def observe(self, ctx: StepContext) -> dict[str, Any] | StepOutputs | None:
        if isinstance(self._settings(ctx), ArmInfraConfig):
            return ArmInfraStep().observe(ctx)
        recorded = ctx.recorded_data().other.get("infra_run")
        if not isinstance(recorded, dict) or recorded.get("conclusion") != "success":
            return None
        return {"summary": f"workflow run {recorded.get('run_id')} already succeeded", **recorded}

    def run(self, ctx: StepContext) -> dict[str, Any] | StepOutputs:
        settings = self._settings(ctx)
        if isinstance(settings, ArmInfraConfig):
            return ArmInfraStep().run(ctx)
        values = {"environment": ctx.deployment.environment, "version": ctx.deployment.version}
        inputs = {key: value.format(**values) for key, value in settings.inputs.items()}
        try:
            repo = self._repo(ctx)
            recorded = ctx.recorded_data().other.get("infra_run")
            if isinstance(recorded, dict) and isinstance(recorded.get("run_id"), int):
                run_id = int(recorded["run_id"])
                ctx.progress(f"following workflow run {run_id} started earlier")
            else:
                workflow = get_workflow(repo, settings.workflow)
                run_id = dispatch(
                    repo,
                    workflow,
                    settings.ref,
                    inputs,
                    ctx.clock,
                    poll_interval=min(settings.poll_interval, 5.0),
                )
                ctx.store.merge_deployment_data(ctx.deployment.id, infra_run={"run_id": run_id})
                ctx.progress(f"dispatched {settings.workflow} on {settings.ref}: run {run_id}")
            result = follow(
                repo,
                run_id,
                ctx.clock,
                timeout=settings.timeout,
                poll_interval=settings.poll_interval,
                progress=ctx.progress,
            )
        except NotSupported:
            raise
        except TurnoutError as exc:
            raise StepError(f"infrastructure workflow: {exc.message}", details=exc.details) from exc
        outputs = {
            "workflow": settings.workflow,
            "ref": settings.ref,
            "inputs": inputs,
            **result.to_dict(),
        }
        ctx.store.merge_deployment_data(ctx.deployment.id, infra_run=result.to_dict())
        note_phase(
            ctx,
            f"Phase 2 (infrastructure): `{settings.workflow}` run {result.id}"
            f" {result.status}/{result.conclusion or '-'} {result.url}".rstrip(),
        )
        if result.status != "completed":
            raise StepError(
                f"workflow run {result.id} still {result.status} after {settings.timeout:g} s",
                details=outputs,
            )
        if not result.succeeded:
            raise StepError(
                f"workflow run {result.id} concluded {result.conclusion}", details=outputs
            )
        return {"summary": f"{settings.workflow} run {result.id} succeeded", **outputs}
