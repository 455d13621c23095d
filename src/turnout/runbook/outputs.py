"""The outputs steps read from each other, as typed records of the journal.

A step journals its outputs as a JSON object; another step that needs one of them asks
its context for the producing step's record (`ctx.output(SwapOutputs)`) and gets typed
fields, or None when that step has not completed in this deployment. Keys a record does
not name are kept in the journal but not read here; a value of the wrong type (a journal
written by hand) reads as absent rather than as something it is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer

from turnout.azure_sql_record import AzureSqlBackup, AzureSqlRestore
from turnout.command_record import CommandRun
from turnout.integrations.messages import MessageKind
from turnout.policy.rules import WindowKind
from turnout.store.deployment_data import ArmDeploymentRecord


class StepOutputs(BaseModel):
    """Base of every step's outputs record: which step journals it."""

    # Validators are built when a record is first read or written, not when a command that
    # never does imports this module.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    step: ClassVar[str]
    summary: str | None = None
    """One line for people (the progress display, the tracking issue)."""

    def journal(self) -> dict[str, Any]:
        """The JSON object the journal keeps: the fields this record was given."""
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_journal(cls, raw: Mapping[str, Any]) -> Self | None:
        """The record of a journaled outputs object; a field whose value does not fit reads
        as absent (the others still count)."""
        values = dict(raw)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            misfits = {error["loc"][0] for error in exc.errors() if error["loc"]}
        try:
            return cls.model_validate({k: v for k, v in values.items() if k not in misfits})
        except ValidationError:
            return None


class SwapUndoOutputs(StepOutputs):
    """What the swap's undo did: production's version after it, and whether it swapped."""

    step = "swap"
    production: str | None = None
    """The version production runs after the undo (None: empty, as before the deployment)."""
    swapped_back: bool | None = None
    """Whether the undo had to swap back (False: the swap never moved traffic)."""
    checks: list[dict[str, Any]] | None = None
    """The health checks run on production after swapping back (`CheckResult.to_dict()`)."""


class SwapOutputs(StepOutputs):
    """The swap into production."""

    step = "swap"
    swapped_at: float | None = None
    """When traffic moved (epoch seconds); verification judges from then on."""
    slot: str | None = None
    """The slot swapped into production."""
    previous: str | None = None
    """The version production ran before the swap."""
    operation: dict[str, Any] | None = None
    """`Operation.to_dict()` of the swap the target ran (resume follows it)."""
    undo: SwapUndoOutputs | None = None
    """What compensation's undo did, once it ran."""


class ProductionHealth(BaseModel):
    """Production's version before the deployment and its health checks' results."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    version: str
    checks: list[dict[str, Any]] = []
    """The health checks' results (`CheckResult.to_dict()`)."""


class PreconditionsOutputs(StepOutputs):
    """Production healthy, the platform ready and no active incident before starting."""

    step = "preconditions"
    platform: dict[str, Any] | None = None
    """What the platform's own preconditions found, for targets that check them."""
    production: ProductionHealth | str | None = None
    """Production's health, or a sentence when nothing is live yet."""
    unknown_sources: list[str] | None = None
    """Incident sources that could not say (configured to warn), as `source: why`."""
    incidents_overridden: str | None = None
    """The active incidents an emergency deployment went ahead despite."""


class ProbeOutputs(StepOutputs):
    """Verification traffic on the staging slot before the swap."""

    step = "probe"
    slot: str | None = None
    url: str | None = None
    """The staging slot's own URL the probes were sent to."""
    verdict: dict[str, Any] | None = None
    """The judge's verdict on the probes (`Verdict.to_dict()`)."""
    probes: list[dict[str, Any] | None] | None = None
    """The probe batch sent (`ProbeBatch.to_dict()`)."""


class SnapshotOutputs(StepOutputs):
    """What production looked like before the deployment."""

    step = "snapshot"
    slots: dict[str, dict[str, Any]] | None = None
    """Each slot's version, state and URL before anything changed."""
    production_version: str | None = None
    platform: dict[str, Any] | None = None
    """The platform's own settings, for targets that report them."""
    baseline: dict[str, Any] | None = None
    """The metrics baseline (`Baseline.to_dict()`), when one was measured."""
    metrics: str | None = None
    """How the baseline was measured, or why there is none."""
    commit: str | None = None


class PreflightOutputs(StepOutputs):
    """What the checks before anything is announced found about the release."""

    step = "preflight"
    package: str | None = None
    """The release package checked (a path)."""
    live_version: str | None = None
    """The version production ran (None: nothing live yet)."""
    pending_migrations: list[str] | None = None
    """The file names of the release's migrations the database has not applied."""
    infra: dict[str, Any] | None = None
    """ARM's what-if of the infrastructure phase (`PlannedInfra.to_dict()`), when it has one."""


class StageOutputs(StepOutputs):
    """The new version staged in its slot."""

    step = "stage"
    slot: str | None = None
    url: str | None = None
    """The slot's own URL once the version runs in it."""
    build: str | None = None
    """Which build of the version the target runs (a version label can name several)."""
    package: str | None = None
    """The release package deployed (a path)."""
    operation: dict[str, Any] | None = None
    """`Operation.to_dict()` of the deploy the target ran (resume follows it)."""
    commit: str | None = None


class WarmupOutputs(StepOutputs):
    """The warm-up requests sent to the staging slot."""

    step = "warmup"
    url: str | None = None
    requests: int | None = None
    """Requests sent."""
    ok: int | None = None
    """Requests that were answered as healthy."""


class TrackOutputs(StepOutputs):
    """The deployment's tracking issue."""

    step = "track"
    issue: dict[str, Any] | None = None
    """`TrackingIssue.to_dict()` of the opened issue."""


class CloseOutputs(StepOutputs):
    """Closing the tracking issue once the deployment completed."""

    step = "close"
    issue: dict[str, Any] | None = None
    """`TrackingIssue.to_dict()` of the issue (absent when there is none)."""
    closed: bool | None = None
    """Whether this run closed it (False: the tracker failed, `error` says why)."""
    error: str | None = None


class TagOutputs(StepOutputs):
    """The release's annotated git tag."""

    step = "tag"
    tag: str | None = None
    commit: str | None = None
    """The commit the tag points at."""
    created: bool | None = None
    """Whether this run created it (False: it was already there)."""
    pushed_to: str | None = None
    """The remote it was pushed to, when one is configured."""
    error: str | None = None
    """Why it was not created (a tag problem never fails a verified release)."""


class LogOutputs(StepOutputs):
    """The deployment log's line."""

    step = "log"
    file: str | None = None
    """The deployment log (a path)."""
    line: str | None = None
    error: str | None = None
    """Why the line was not written."""


class WindowOutputs(StepOutputs):
    """The deployment window's verdict."""

    step = "window"
    ok: bool | None = None
    """Whether the deployment may go on (the step refuses otherwise)."""
    override: str | None = None
    """Which override let the deployment in outside its window, if any."""
    message: str | None = None
    verdict: WindowKind | None = None
    """The window's verdict (journaled as its value: best, acceptable, avoid, frozen)."""
    at: str | None = None
    """When it was judged, in the policy's timezone (ISO 8601)."""
    at_utc: str | None = None
    timezone: str | None = None
    rules: list[dict[str, Any]] | None = None
    """The rules that fired (`FiredRule.to_dict()`)."""
    next_best: str | None = None
    next_acceptable: str | None = None


class BackupOutputs(StepOutputs):
    """The pre-migration backup."""

    step = "backup"
    backup_id: int | None = None
    location: str | None = None
    """Where the backup file is (a path: no secrets)."""
    size: int | None = None
    sha256: str | None = None
    row_counts: dict[str, int] | None = None
    """Rows per table of the database when it was backed up."""
    pending: list[str] | None = None
    """Versions of the migrations that were pending when the backup was taken."""
    pending_files: list[str] | None = None
    """The file names of those migrations."""
    azure_sql: AzureSqlBackup | None = None
    """An Azure SQL backup: the restore point and its window, the copy, the bacpac."""


class ResumedCommand(BaseModel):
    """What a migration tool reported when a run cut off during its command was resumed."""

    model_config = ConfigDict(frozen=True)

    applied: list[str] | None
    """What the tool says is applied now (None: the tool has no `applied` listing)."""
    pending: list[str]
    """What it says is still pending."""
    action: str
    """What the resumed run did about it: `continued` (ran the command again), `done`
    (nothing was left), or `restored` (compensation restored the backup)."""


class MigrateOutputs(StepOutputs):
    """The migrations the database phase applied."""

    step = "migrate"
    applied: list[str] | None = None
    """What this deployment applied: SQL files' versions, or the tool's own names."""
    files: list[dict[str, Any]] | None = None
    """SQL files: each applied file (`AppliedRun.to_dict()`)."""
    backup_id: int | None = None
    tool: str | None = None
    """The migration tool (django, alembic, flyway, command) when one migrated."""
    command: CommandRun | None = None
    """The tool's apply command as it ran: arguments, exit, seconds, last lines."""
    resumed: ResumedCommand | None = None
    """When an earlier run was cut off during this step: what the tool said then."""
    undo: MigrateUndoOutputs | None = None
    """Compensation's record, once the step was undone."""


class MigrateUndoOutputs(StepOutputs):
    """What undoing the migrations did (journaled under the migrate step's `undo`)."""

    step = "migrate"
    restored: bool = False
    backup_id: int | None = None
    location: str | None = None
    row_counts: dict[str, int] | None = None
    equal_to_pre_migration: bool | None = None
    differences: list[str] | None = None
    resumed: ResumedCommand | None = None
    azure_sql: AzureSqlRestore | None = None
    """An Azure SQL restore: the new database, its verification, each stage and rename."""


class VerifyDatabaseOutputs(StepOutputs):
    """What verify-db checked after migrating."""

    step = "verify-db"
    versions: list[str] | None = None
    """SQL files: the versions the history shows; a tool: what it reports applied."""
    queries: int | None = None
    """verify.sql queries that ran."""
    failures: list[str] | None = None
    evidence: list[dict[str, Any]] | None = None
    ok: bool | None = None
    checksums: dict[str, str] | None = None
    """SQL files: version -> sha256 of the release's migrations."""
    tool: str | None = None
    command: CommandRun | None = None
    """The verify command, when one is configured."""


class VerifyOutputs(StepOutputs):
    """Verification on live traffic after the swap."""

    step = "verify"
    checks: list[dict[str, Any]] | None = None
    """The health checks' results (`CheckResult.to_dict()`)."""
    probes: list[dict[str, Any]] | None = None
    """The synthetic probe batch sent while judging, when probes ran."""
    analysis: dict[str, Any] | None = None
    """The metric analysis's verdict, or what the undecided policy made of it."""
    e2e: dict[str, Any] | None = None
    """The E2E command's result, when one is configured."""
    business: list[dict[str, Any]] | None = None
    """The business checks' results."""
    proven: bool | None = None
    """False when the release is kept without proof (accepted unproven, not measured)."""
    evidence: dict[str, Any] | None = None
    error_rate: float | None = None
    p95_ms: float | None = None

    def measured(self, key: str) -> float | None:
        """A figure measured on live traffic, from the analysis evidence or the outputs."""
        nested = self.analysis.get("evidence") if self.analysis else None
        for holder in (
            nested,
            self.evidence,
            {"error_rate": self.error_rate, "p95_ms": self.p95_ms},
        ):
            if isinstance(holder, Mapping):
                value = holder.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
        return None


class CanaryStepRecord(BaseModel):
    """One step of the canary as it went: its share, when, what it needed and saw."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    share: float
    """Per cent of new clients routed to the new version in this step."""
    started_at: float
    """When the share was applied (epoch seconds)."""
    ended_at: float | None = None
    """When the step ended (None: in force, or cut off by a crash)."""
    needed_seconds: float = 0.0
    needed_requests: int = 0
    requests: int = 0
    """User requests the new version served during this step."""
    failed: int = 0
    """Of those, the ones that failed (server errors)."""
    outcome: str = "running"
    """running, passed (its seconds and requests met), short (max_seconds passed first),
    regressed, or cut-off (the process died while it was in force)."""


class CanaryOutputs(StepOutputs):
    """The canary phase: a share of production's traffic on the new version before the swap."""

    step = "canary"
    skipped: str | None = None
    """Why no traffic was shared (the target cannot, incompatible migrations, ...)."""
    slot: str | None = None
    """The slot the share went to (the staging slot holding the new version)."""
    shares: list[float] | None = None
    """The configured shares, in order (per cent)."""
    share: float | None = None
    """The share in force when this record was written: journaled before it is applied,
    so after a crash it says what may still be routed."""
    stickiness: str | None = None
    steps: list[CanaryStepRecord] | None = None
    """Each step begun, with its evidence."""
    verdict: dict[str, Any] | None = None
    """The side-by-side judge's latest verdict (`Verdict.to_dict()`)."""
    state: dict[str, Any] | None = None
    """The analysis state (`CanaryState.to_dict()`): a resumed canary carries on with it."""
    served: int | None = None
    """Blast radius: user requests the new version served during the canary (probes apart)."""
    failed: int | None = None
    """Blast radius: of those, the ones that failed."""
    outcome: str | None = None
    """passed, short (a step lacked traffic; the swap decides), regressed, skipped, running."""
    resumed: int | None = None
    """How many times a cut-off canary was resumed (its share set to zero first)."""
    undo: dict[str, Any] | None = None
    """Compensation's record (the share set to zero), once the step was undone."""

    @property
    def exposed(self) -> bool:
        """Whether the new version served any user request during the canary."""
        return bool(self.served)


class InfraArmOutputs(StepOutputs):
    """The infrastructure phase on Azure Resource Manager."""

    step = "infra"
    deployment: ArmDeploymentRecord | None = None
    """The ARM deployment as it ended (its outputs, resources, and ARM's roll back)."""
    template: str | None = None
    """Where the template came from."""
    checked_outputs: list[str] | None = None
    """The expected outputs and resources found as configured."""


class ChecklistOutputs(StepOutputs):
    """The release checklist's verdict (the tracking issue lists it)."""

    step = "checklist"
    ok: bool | None = None
    """Whether no required item fails."""
    items: list[dict[str, Any]] | None = None
    """Each item's result (`ItemResult.to_dict()`: item, title, result, summary, ...)."""


class AnnounceOutputs(StepOutputs):
    """The start announcement: its kind and how each channel took it."""

    step = "announce"
    kind: MessageKind | None = None
    deliveries: list[dict[str, Any]] | None = None
    """Each channel's delivery as this run sent it (`Delivery.to_dict()`)."""
    at: datetime | None = None
    """When an earlier run sent it (a resumed step does not send again)."""
    delivered: list[str] | None = None
    """The channels the earlier run got it through."""

    @field_serializer("at", when_used="json")
    def _at_as_stored(self, at: datetime | None) -> str | None:
        # The journal keeps `datetime.isoformat()` ("+00:00"), as the deployment record does.
        return None if at is None else at.isoformat()


class OnCallOutputs(BaseModel):
    """Who was on call when a production deployment finished, and whether they were told."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    person: str | None = None
    """As announced (their Slack handle when known); None when nobody was found."""
    source: str | None = None
    """Where the answer came from (`roster`, `pagerduty`; `unknown` when the lookup failed)."""
    oncall_now: str | None = None
    oncall_reached: str | None = None
    """How they were told directly: the URL's kind and the setting (never the URL)."""
    oncall_unreached: str | None = None
    """Why they were not told directly."""


class AnnounceSuccessOutputs(AnnounceOutputs):
    """The success announcement; in production also who was on call and whether told."""

    step = "announce-success"
    oncall: OnCallOutputs | None = None


class SmokeOutputs(StepOutputs):
    """The smoke checks on the staging slot before any traffic moves."""

    step = "smoke"
    checks: list[dict[str, Any]] | None = None
    """Each smoke check's result (`CheckResult.to_dict()`)."""


class ApprovalOutputs(StepOutputs):
    """The approvals the deployment needed and which recorded approval met each."""

    step = "approval"
    ok: bool | None = None
    """Whether every requirement is met."""
    requirements: list[dict[str, Any]] | None = None
    """What the policy asks for (`Requirement.to_dict()`)."""
    met: dict[str, dict[str, Any]] | None = None
    """The approval that met each requirement, by the requirement's reason."""
    missing: list[dict[str, Any]] | None = None
    ignored: list[dict[str, Any]] | None = None
    """Recorded approvals that do not count, with the reason."""
    may_approve: dict[str, list[str]] | None = None
    """Who may give each missing approval, by the requirement's reason."""
    deployer_only: list[str] | None = None
    """Requirements whose role only the deployer holds."""
    signed_required: bool | None = None
    """Whether only signed approvals counted (`policy.approvals.signed`)."""
    postmortem: int | None = None
    """An approved emergency deployment: the id of the post-mortem record it opened."""


MigrateOutputs.model_rebuild()
