"""Phase 6.2: the annotated release tag and the `deployments.log` line.

Both run after the release is verified, so a problem here (no git repository, a push
refused) is recorded in the outputs and shown, never turned into a rollback. Both are
idempotent: an existing tag or log line is found by `observe` and left alone.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from turnout.errors import TurnoutError
from turnout.integrations.audit_anchors import LOG_DIGITS, anchor_text
from turnout.integrations.vcs import (
    append_log_line,
    ensure_tag,
    has_identity,
    is_repository,
    log_has_line,
    push_credentials,
    remote_has_tag,
    tag_commit,
)
from turnout.runbook.outputs import LogOutputs, TagOutputs
from turnout.runbook.step import Step, StepContext


def repository(ctx: StepContext) -> Path:
    """The app's git repository (app.repository, relative to turnout.toml)."""
    return ctx.config.resolve_path(ctx.config.root.app.repository)


def tag_name(ctx: StepContext) -> str:
    """The release tag, e.g. v1.4.0."""
    fmt = ctx.env.integrations.vcs.tag_format
    return fmt.format(version=ctx.deployment.version, environment=ctx.deployment.environment)


def tag_message(ctx: StepContext) -> str:
    """The annotated tag's message, e.g. "Production release 2026-11-17", and the audit
    chain's head below it (unless integrations.vcs.anchor_audit is off)."""
    local = ctx.clock.now().astimezone(ZoneInfo(ctx.env.policy.timezone))
    env = ctx.deployment.environment
    message = ctx.env.integrations.vcs.tag_message.format(
        Environment=env.title(),
        environment=env,
        version=ctx.deployment.version,
        date=f"{local:%Y-%m-%d}",
    )
    anchor = _anchor(ctx, 64)
    return f"{message}\n\n{anchor}" if anchor else message


def _anchor(ctx: StepContext, digits: int) -> str | None:
    """The audit chain's head as an anchor, when anchoring is on and the log has rows."""
    if not ctx.env.integrations.vcs.anchor_audit:
        return None
    head = ctx.store.audit_head()
    return None if head is None else anchor_text(head[0], head[1], digits)


def _tagger(ctx: StepContext, repo: Path) -> tuple[str, str] | None:
    # The deployer tags the release when turnout knows their e-mail; otherwise git's own
    # identity, and failing that a placeholder so the tag is never lost for lack of one.
    for person in ctx.config.root.people:
        if person.name.casefold() == ctx.deployment.deployer.casefold() and person.email:
            return person.name, person.email
    if has_identity(repo):
        return None
    return ctx.deployment.deployer, f"{ctx.deployment.deployer}@turnout.invalid"


class TagStep(Step):
    """Annotated git tag for the release in the app repository, pushed when configured."""

    name = "tag"
    phase = "communication"

    def observe(self, ctx: StepContext) -> TagOutputs | None:
        settings = ctx.env.integrations.vcs
        if not settings.tag:
            return TagOutputs(summary="release tags are off (integrations.vcs.tag = false)")
        repo = repository(ctx)
        tag = tag_name(ctx)
        try:
            if not is_repository(repo):
                return None
            commit = tag_commit(repo, tag)
            if commit is None:
                return None
            credentials = push_credentials(settings, str(ctx.config.path))
            if settings.push_remote and not remote_has_tag(
                repo, settings.push_remote, tag, credentials
            ):
                return None
        except TurnoutError:
            return None
        return TagOutputs(
            summary=f"tag {tag} already in place",
            tag=tag,
            commit=commit,
            pushed_to=settings.push_remote,
        )

    def run(self, ctx: StepContext) -> TagOutputs:
        settings = ctx.env.integrations.vcs
        repo = repository(ctx)
        tag = tag_name(ctx)
        try:
            result = ensure_tag(
                repo,
                tag,
                tag_message(ctx),
                push_remote=settings.push_remote,
                tagger=_tagger(ctx, repo) if is_repository(repo) else None,
                credentials=push_credentials(settings, str(ctx.config.path)),
            )
        except TurnoutError as exc:
            ctx.progress(f"release tag {tag} not recorded: {exc.message}")
            return TagOutputs(
                summary=f"tag {tag} NOT created: {exc.message}", tag=tag, error=exc.message
            )
        pushed = f", pushed to {result.pushed_to}" if result.pushed_to else ""
        verb = "created" if result.created else "already there"
        return TagOutputs(
            summary=f"tag {tag} {verb} on {result.commit[:12]}{pushed}",
            tag=tag,
            commit=result.commit,
            created=result.created,
            pushed_to=result.pushed_to,
        )


def log_path(ctx: StepContext) -> Path:
    """Where the deployment log is (integrations.vcs.log_file, relative to the repository)."""
    path = Path(ctx.env.integrations.vcs.log_file).expanduser()
    return path if path.is_absolute() else repository(ctx) / path


def log_line(ctx: StepContext) -> str:
    """The runbook's line, `YYYY-MM-DD HH:MM:SS - v1.2.3 deployed to production` (UTC),
    then the audit chain's head, `[audit 412 9f3a…]` (unless anchor_audit is off).

    Fixed once per deployment (kept in its record) so a resumed step finds the line it
    wrote instead of writing a second one with a later time.
    """
    recorded = ctx.recorded_data().log_line
    if recorded:
        return recorded
    line = ctx.env.integrations.vcs.log_format.format(
        time=f"{ctx.clock.now().astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M:%S}",
        tag=tag_name(ctx),
        version=ctx.deployment.version,
        environment=ctx.deployment.environment,
    )
    anchor = _anchor(ctx, LOG_DIGITS)
    if anchor:
        line = f"{line} {anchor}"
    ctx.store.update_deployment_data(ctx.deployment.id, log_line=line)
    return line


class LogStep(Step):
    """One line appended to deployments.log."""

    name = "log"
    phase = "communication"

    def observe(self, ctx: StepContext) -> LogOutputs | None:
        recorded = ctx.recorded_data().log_line
        path = log_path(ctx)
        if recorded is not None and log_has_line(path, recorded):
            return LogOutputs(
                summary=f"{path.name} already has the line", file=str(path), line=recorded
            )
        return None

    def run(self, ctx: StepContext) -> LogOutputs:
        path = log_path(ctx)
        line = log_line(ctx)
        try:
            appended = append_log_line(path, line)
        except OSError as exc:
            ctx.progress(f"{path}: deployment log not written: {exc.strerror or exc}")
            return LogOutputs(
                summary=f"{path.name} NOT written: {exc.strerror or exc}",
                file=str(path),
                error=str(exc),
            )
        verb = "appended to" if appended else "already in"
        return LogOutputs(summary=f"line {verb} {path.name}: {line}", file=str(path), line=line)
