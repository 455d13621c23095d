"""External systems: notifications, tracking issue, incidents, on-call, git."""

from __future__ import annotations

from pydantic import Field

from turnout.config.base import Section
from turnout.config.secrets import Secret


class NotifyConfig(Section):
    """Announcements: always the console, plus any Apprise URLs."""

    urls: list[Secret] = Field(default_factory=list)
    """Apprise URLs as secret references (they embed tokens), e.g. env:SLACK_WEBHOOK_URL."""


class VcsConfig(Section):
    """Release tag and deployment log (runbook Phase 6.2)."""

    tag: bool = True
    tag_format: str = "v{version}"
    push_remote: str | None = None
    log_file: str = "deployments.log"


class IntegrationsConfig(Section):
    """Every external system turnout may talk to."""

    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    vcs: VcsConfig = Field(default_factory=VcsConfig)
