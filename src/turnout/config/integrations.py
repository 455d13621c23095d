"""External systems: notifications, tracking issue, incidents, on-call, git, GitHub workflows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from turnout.config.arm import ArmInfraConfig
from turnout.config.base import MAX_SECONDS, Section
from turnout.config.plugins import ChannelPlugin
from turnout.config.secrets import Secret
from turnout.config.templates import check_template


class NotifyConfig(Section):
    """Announcements: always the console, plus any Apprise URLs."""

    urls: list[Secret] = Field(default_factory=list)
    """Apprise URLs as secret references (they embed tokens), e.g. env:SLACK_WEBHOOK_URL."""
    retries: int = Field(default=2, ge=0, le=10)
    """Further attempts after a failed delivery, per URL."""
    backoff: float = Field(default=1.0, ge=0.0, le=60.0)
    """Seconds before the first retry; doubled before each further one."""
    timeout: float = Field(default=15.0, gt=0.0, le=300.0)
    """Upper bound, in seconds, on the time one message may take over all URLs together.
    A notification never blocks a deployment longer than this."""
    hashtags: str = "#deployment #{environment}"
    """Closing line of every message ({environment} is filled in)."""


APPRISE = ChannelPlugin("apprise", "turnout.integrations.notify:apprise_channels")
"""The `apprise` entry point of `turnout.notify_channels`: one channel per `notify.urls` entry."""


class GitHubConfig(Section):
    """GitHub (or GitHub Enterprise) access shared by the tracker and the workflows."""

    token: Secret | None = None
    """Secret reference to a token, e.g. env:GITHUB_TOKEN."""
    base_url: str = "https://api.github.com"
    """API root; GitHub Enterprise: https://HOST/api/v3."""
    repository: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    """owner/name of the app repository."""


class TrackerConfig(Section):
    """The deployment tracking issue (runbook Phase 1.2)."""

    kind: Literal["local", "github"] = "local"
    """local: kept with the deployment record; github: an issue in `repo`."""
    repo: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    """owner/name; default: github.repository."""
    token: Secret | None = None
    """Default: github.token."""
    base_url: str | None = None
    """Default: github.base_url."""
    labels: list[str] = Field(default_factory=lambda: ["deployment", "{environment}"])
    """Issue labels; {environment} is filled in (production: deployment, production)."""
    title: str = "{Environment} Deployment - {date}"
    """Issue title; {date} (YYYY-MM-DD in the policy timezone), {Environment},
    {environment} and {version} are filled in: "Production Deployment - 2026-11-17"."""

    @field_validator("labels")
    @classmethod
    def _label_templates(cls, value: list[str]) -> list[str]:
        return [check_template(label, ("environment",)) for label in value]

    @field_validator("title")
    @classmethod
    def _title_template(cls, value: str) -> str:
        return check_template(value, ("date", "Environment", "environment", "version"))


class PagerDutyConfig(Section):
    """PagerDuty REST API v2: active incidents and who is on call."""

    token: Secret
    """Secret reference to a REST API key, e.g. env:PAGERDUTY_TOKEN."""
    service_ids: list[str] = Field(default_factory=list)
    """Services whose triggered or acknowledged incidents freeze deployments (empty: all)."""
    base_url: str = "https://api.pagerduty.com"
    ca_bundle: str | None = None
    """PEM file of certificate authorities to trust (a TLS-inspecting proxy), relative to
    turnout.toml. Default: the system's."""
    timeout: float = Field(default=10.0, gt=0.0, le=120.0)


HealthEventType = Literal["ServiceIssue", "PlannedMaintenance"]
HEALTH_EVENT_TYPES: tuple[HealthEventType, ...] = ("ServiceIssue", "PlannedMaintenance")


class AzureHealthConfig(Section):
    """Azure Service Health and Resource Health for the environment's App Service target
    (its subscription, region and credential)."""

    event_types: list[HealthEventType] = Field(default_factory=lambda: list(HEALTH_EVENT_TYPES))
    """Kinds of active Service Health events that freeze deployments."""
    services: list[str] = Field(default_factory=lambda: ["App Service", "SQL Database"])
    """Impacted services that concern the app (as Service Health names them)."""
    region: str | None = None
    """Region whose events concern the app, e.g. westeurope; default: the target's location."""
    resources: list[str] = Field(default_factory=list)
    """Further resource ids whose Resource Health availability counts (the database);
    the app itself is always asked."""
    on_unknown: Literal["block", "warn"] = "block"
    """When Azure cannot be asked: block (the gate refuses) or warn (shown, not a freeze)."""
    timeout: float = Field(default=10.0, gt=0.0, le=120.0)
    """Seconds per request."""


class IncidentsConfig(Section):
    """Incident sources besides local records (`turnout incident open`)."""

    pagerduty: PagerDutyConfig | None = None
    azure: AzureHealthConfig | None = None


class PagerDutyChangesConfig(Section):
    """PagerDuty Events API v2 change events: each deployment on the service's timeline."""

    routing_key: Secret
    """Secret reference to the integration key of an Events API v2 integration on the
    service, e.g. env:PAGERDUTY_ROUTING_KEY."""
    base_url: str = "https://events.pagerduty.com"
    ca_bundle: str | None = None
    """PEM file of certificate authorities to trust, relative to turnout.toml."""


class ChangeEventsConfig(Section):
    """Where deployments are recorded as changes (besides announcements)."""

    pagerduty: PagerDutyChangesConfig | None = None


PAGERDUTY_CHANGES = ChannelPlugin(
    "pagerduty", "turnout.integrations.change_events:pagerduty_change_channels"
)
"""The `pagerduty` entry point of `turnout.notify_channels`: one change-event channel when
`change_events.pagerduty` is set."""


class OnCallShift(Section):
    """Someone on call from `start` (included) to `end` (excluded); either may be left out,
    and a plain name is someone always on call. Times without an offset are local to
    `policy.timezone`."""

    person: str = Field(min_length=1)
    start: datetime | None = None
    end: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_or_table(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"person": value}
        if not isinstance(value, dict | OnCallShift):
            raise ValueError(
                'expected a name or a shift { person = "...", start = ..., end = ... }'
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> OnCallShift:
        if self.start is not None and self.end is not None:
            # Compare like with like: both local, or both with an offset.
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError(
                    f"shift of {self.person!r}: give both times with an offset or neither"
                )
            if self.start >= self.end:
                raise ValueError(f"shift of {self.person!r}: start is not before end")
        return self


class OncallConfig(Section):
    """Who is on call: a roster from the configuration, or PagerDuty escalation policies."""

    roster: list[OnCallShift] = Field(default_factory=list)
    """In order of preference: names (people[].name), on call at any time, or shifts
    {person, start, end}, on call between those instants."""
    escalation_policy_ids: list[str] = Field(default_factory=list)
    """PagerDuty escalation policies to ask (uses incidents.pagerduty credentials)."""


class VcsConfig(Section):
    """Release tag and deployment log (runbook Phase 6.2)."""

    tag: bool = True
    tag_format: str = "v{version}"
    tag_message: str = "{Environment} release {date}"
    """Annotated tag message; {Environment}, {environment}, {version}, {date} are filled in."""
    push_remote: str | None = None
    """Remote to push the tag to (e.g. origin); none: keep it local."""
    push_username: str = "x-access-token"
    """User name sent with `push_password` (GitHub accepts any with a token)."""
    push_password: Secret | None = None
    """Secret reference (env:NAME) of the HTTPS password or token for the push remote, so
    that it need not be written into the remote's URL; git gets it from a credential
    helper reading its environment, never from its arguments."""
    log_file: str = "deployments.log"
    """Appended one line per deployment; relative to the app repository."""
    log_format: str = "{time} - {tag} deployed to {environment}"
    """{time} is UTC as YYYY-MM-DD HH:MM:SS; {tag}, {version}, {environment} are filled in."""
    anchor_audit: bool = True
    """Write the audit log's newest row and hash (`[audit ROW HASH]`) into the log line and
    the tag message, so `turnout audit verify` notices rows deleted or rewritten since."""

    @field_validator("tag_format")
    @classmethod
    def _tag_template(cls, value: str) -> str:
        return check_template(value, ("version", "environment"))

    @field_validator("tag_message")
    @classmethod
    def _message_template(cls, value: str) -> str:
        return check_template(value, ("Environment", "environment", "version", "date"))

    @field_validator("log_format")
    @classmethod
    def _log_template(cls, value: str) -> str:
        return check_template(value, ("time", "tag", "version", "environment"))


class InfraConfig(Section):
    """Infrastructure phase through a GitHub Actions workflow (runbook Phase 2)."""

    kind: Literal["github"] = "github"
    """github (a workflow dispatch, the default) or arm (ArmInfraConfig)."""

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        if value != "github":
            raise ValueError("github (a workflow, the default) or arm (a template)")
        return value

    workflow: str = "deploy-infrastructure.yml"
    repository: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    """owner/name holding the workflow; default: github.repository."""
    ref: str = "main"
    inputs: dict[str, str] = Field(default_factory=lambda: {"environment": "{environment}"})
    """Workflow inputs; {environment} and {version} are filled in."""

    @field_validator("inputs")
    @classmethod
    def _input_templates(cls, value: dict[str, str]) -> dict[str, str]:
        return {
            key: check_template(text, ("environment", "version")) for key, text in value.items()
        }

    timeout: float = Field(default=1800.0, gt=0.0, le=MAX_SECONDS)
    """Seconds to wait for the run to complete."""
    poll_interval: float = Field(default=10.0, gt=0.0, le=MAX_SECONDS)


# The loader leaves union branch tags in angle brackets out of the keys it names.
_WORKFLOW, _ARM = "<workflow>", "<arm>"


def _infra_kind(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return _ARM if kind == "arm" else _WORKFLOW


Infra = Annotated[
    Annotated[InfraConfig, Tag(_WORKFLOW)] | Annotated[ArmInfraConfig, Tag(_ARM)],
    Discriminator(_infra_kind),
]
"""The infrastructure phase: a GitHub workflow (no kind, or kind github) or an ARM template."""


class IntegrationsConfig(Section):
    """Every external system turnout may talk to."""

    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    change_events: ChangeEventsConfig = Field(default_factory=ChangeEventsConfig)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    vcs: VcsConfig = Field(default_factory=VcsConfig)
    github: GitHubConfig = Field(default_factory=GitHubConfig)
    infra: Infra | None = None
    """Absent: this environment has no infrastructure phase (infra/full deployments refuse)."""

    @model_validator(mode="after")
    def _github_parts_complete(self) -> IntegrationsConfig:
        # Say at load time (exit 2) what a GitHub-backed feature lacks, not mid-deployment.
        if self.tracker.kind == "github":
            if not (self.tracker.repo or self.github.repository):
                raise ValueError("tracker.repo (or github.repository) is required for kind github")
            if not (self.tracker.token or self.github.token):
                raise ValueError("tracker.token (or github.token) is required for kind github")
        if isinstance(self.infra, InfraConfig):
            if not (self.infra.repository or self.github.repository):
                raise ValueError("infra.repository (or github.repository) is required")
            if self.github.token is None:
                raise ValueError("github.token is required to dispatch the infra workflow")
        return self
