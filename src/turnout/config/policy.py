"""Deployment policy: windows, freezes, checklist, approvals."""

from __future__ import annotations

from pydantic import Field

from turnout.config.base import Section


class ApprovalsConfig(Section):
    """Who must approve a deployment of this environment."""

    required_roles: list[str] = Field(default_factory=list)
    """One approval from any of these roles is needed (empty: no approval)."""
    emergency_roles: list[str] = Field(default_factory=lambda: ["vp-engineering", "director"])


class PolicyConfig(Section):
    """The runbook's "Deployment Timing" and approval rules; defaults are the runbook's."""

    timezone: str = "America/Los_Angeles"
    enforce_window: bool = True
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
