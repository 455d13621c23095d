"""Deployment policy: windows, freezes, holidays, checklist, approvals.

Every default is the runbook's ("Deployment Timing", "Pre-Deployment Checklist",
"Required Access", "Emergency Deployment"). Times of day are local to
`policy.timezone`; dates are local calendar dates there. Who is on call is
`integrations.oncall`; how long an emergency deployment is watched,
`analysis.emergency_watch_for`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.known_calendars import check_calendar
from turnout.config.templates import check_shell_command

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _normalise_day(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        return _FULL_DAYS.get(lowered, lowered[:3] if lowered[:3] in WEEKDAYS else lowered)
    return value


def _hhmm(value: Any) -> Any:
    """Accept "HH:MM" strings (24:00 allowed as an end) and TOML local times."""
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, str):
        match = _HHMM.match(value.strip())
        if not match or (match.group(1) == "24" and match.group(2) != "00"):
            raise ValueError(f"expected a time of day HH:MM between 00:00 and 24:00, got {value!r}")
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    return value


class TimeRange(Section):
    """Some weekdays, from `start` (included) to `end` (excluded), local time."""

    days: list[Weekday] = Field(min_length=1)
    start: str = "00:00"
    end: str = "24:00"

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return [_normalise_day(v) for v in value] if isinstance(value, list) else value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        return _hhmm(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start_minute >= self.end_minute:
            raise ValueError(
                f"start {self.start} must be before end {self.end}"
                " (split a range that crosses midnight in two)"
            )
        return self

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight."""
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def end_minute(self) -> int:
        """Minutes after local midnight (1440 for 24:00)."""
        hours, minutes = self.end.split(":")
        return int(hours) * 60 + int(minutes)

    def describe(self) -> str:
        """E.g. "Tue-Thu 10:00-14:00"."""
        return f"{_days_text(self.days)} {self.start}-{self.end}"


def _days_text(days: Sequence[str]) -> str:
    indexes = sorted({WEEKDAYS.index(d) for d in days})
    names = [WEEKDAYS[i].capitalize() for i in indexes]
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{names[0]}-{names[-1]}"
    return ", ".join(names)


def _range(days: list[str], start: str, end: str) -> TimeRange:
    return TimeRange.model_validate({"days": days, "start": start, "end": end})


class WindowsConfig(Section):
    """Preferred windows and the times to avoid (runbook "Preferred Windows")."""

    best: list[TimeRange] = Field(
        default_factory=lambda: [_range(["tue", "wed", "thu"], "10:00", "14:00")]
    )
    acceptable: list[TimeRange] = Field(
        default_factory=lambda: [_range(["mon", "tue", "wed", "thu", "fri"], "09:00", "16:00")]
    )
    avoid: list[TimeRange] = Field(
        default_factory=lambda: [
            _range(["fri"], "14:00", "24:00"),
            _range(["sat", "sun"], "00:00", "24:00"),
        ]
    )
    """Always "avoid", even inside a best or acceptable range."""
    avoid_holidays: bool = True
    """Every public holiday of `policy.holidays` is an avoid day."""
    month_end_days: int = Field(default=1, ge=0, le=15)
    """The last N days of every month are avoid days (0: off)."""
    avoid_dates: list[date] = Field(default_factory=list)
    """Further avoid days."""


class HolidaysConfig(Section):
    """The holiday calendar (the `holidays` package) and which holidays freeze."""

    country: str | None = "US"
    """ISO country code for the `holidays` package; empty or none: no public holidays."""
    subdivision: str | None = None
    """State or province code, e.g. "CA"."""
    major: list[str] = Field(
        default_factory=lambda: [
            "New Year's Day",
            "Independence Day",
            "Thanksgiving Day",
            "Christmas Day",
        ]
    )
    """Holiday names (as the `holidays` package spells them, observed days included)
    that are freeze days rather than avoid days."""
    extra_dates: list[date] = Field(default_factory=list)
    """Company holidays: freeze days in addition to the major public holidays."""
    days_before: int = Field(default=0, ge=0, le=14)
    """Extend each major holiday's freeze this many days before it (holiday periods)."""
    days_after: int = Field(default=0, ge=0, le=14)
    """... and this many days after it."""

    @field_validator("country", "subdivision", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _known_calendar(self) -> HolidaysConfig:
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("subdivision needs a country")
            return self
        check_calendar(self.country, self.subdivision)
        return self


class FreezePeriod(Section):
    """A custom freeze: dates are inclusive days; date-times are instants (end excluded)."""

    name: str = Field(min_length=1)
    start: datetime | date
    end: datetime | date
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> FreezePeriod:
        if _as_datetime(self.start) > _as_datetime(self.end):
            raise ValueError(f"freeze period {self.name!r}: start is after end")
        return self


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


class FreezesConfig(Section):
    """Deployment freeze periods (runbook "Deployment Freeze Periods")."""

    thanksgiving_week: bool = True
    """Monday of Thanksgiving week (US, 4th Thursday of November) through Cyber Monday."""
    quarter_end_days: int = Field(default=3, ge=0, le=31)
    """The last N days of each quarter (0: off)."""
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    """Quarters start in this month and every third month after it."""
    holidays: bool = True
    """Major holidays (`policy.holidays.major` and `extra_dates`) freeze."""
    incidents: bool = True
    """An active incident (from the incident source) freezes the environment."""
    periods: list[FreezePeriod] = Field(default_factory=list)


ItemSource = Literal[
    "attestation", "command", "sarif", "history", "computed", "turnout", "window", "oncall"
]

CHECKLIST_ITEMS: dict[str, tuple[str, tuple[str, ...]]] = {
    # key: (runbook text, sources the item accepts; the first is the default)
    "code_reviewed": ("All changes code reviewed and approved", ("attestation", "command")),
    "ci_passing": ("CI/CD pipeline passing all tests", ("command", "attestation")),
    "security_scan": (
        "Security scan completed (no critical/high vulnerabilities)",
        ("sarif", "command", "attestation"),
    ),
    "staging_tested": ("Staging environment tested successfully", ("history", "attestation")),
    "migrations_tested": (
        "Database migration scripts tested (if applicable)",
        ("history", "attestation"),
    ),
    "rollback_plan": ("Rollback plan documented", ("computed", "attestation")),
    "change_notification": (
        "Change notification sent to stakeholders",
        ("turnout", "attestation"),
    ),
    "window_scheduled": ("Deployment window scheduled", ("window", "attestation")),
    "oncall_available": (
        "On-call engineer identified and available",
        ("oncall", "attestation", "command"),
    ),
}


SarifLevel = Literal["error", "warning", "note"]


def _levels(*levels: SarifLevel) -> list[SarifLevel]:
    return list(levels)


class ChecklistItemConfig(Section):
    """How one checklist item is decided."""

    required: bool | None = None
    """A failing required item refuses the deployment. Default: required in production."""
    source: ItemSource | None = None
    """Where the answer comes from (default: the item's own, see docs/policy.md)."""
    command: str | None = None
    """For source "command": a shell command; exit status 0 passes."""
    timeout: float = Field(default=600.0, gt=0, le=MAX_SECONDS)
    pass_env: list[str] = Field(default_factory=list)
    """For source "command": the deployer's variables it also gets (e.g. a CI token's name);
    otherwise it sees only an allow-list (locale, PATH, HOME) and TURNOUT_ENV/VERSION/CHECK."""
    sarif: list[str] = Field(default_factory=list)
    """For source "sarif": report files ({version} is filled in), relative to turnout.toml."""
    min_security_severity: float = Field(default=7.0, ge=0, le=10)
    """SARIF results at or above this `security-severity` are critical/high."""
    fail_levels: list[SarifLevel] = Field(default_factory=lambda: _levels("error"))
    """SARIF result levels that count as a finding when no security-severity is given."""

    @field_validator("sarif", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("command")
    @classmethod
    def _shell_command(cls, value: str | None) -> str | None:
        return None if value is None else check_shell_command(value)


class ChecklistConfig(Section):
    """The runbook's nine pre-deployment items."""

    code_reviewed: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    ci_passing: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    security_scan: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    staging_tested: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    migrations_tested: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    rollback_plan: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    change_notification: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    window_scheduled: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)
    oncall_available: ChecklistItemConfig = Field(default_factory=ChecklistItemConfig)

    @model_validator(mode="after")
    def _sources(self) -> ChecklistConfig:
        for key, (_title, sources) in CHECKLIST_ITEMS.items():
            item: ChecklistItemConfig = getattr(self, key)
            if item.source is not None and item.source not in sources:
                raise ValueError(f"{key}.source {item.source!r} is not one of {', '.join(sources)}")
        return self

    def item(self, key: str) -> ChecklistItemConfig:
        """One item's configuration by key."""
        result: ChecklistItemConfig = getattr(self, key)
        return result


class ApprovalsConfig(Section):
    """Who must approve a deployment of this environment."""

    required_roles: list[str] | None = None
    """One approval from any of these roles is needed. Default: ["senior-engineer"] in
    production, none elsewhere; [] means no approval."""
    emergency_roles: list[str] = Field(default_factory=lambda: ["vp-engineering", "director"])
    """An emergency deployment needs one approval from any of these roles (instead of
    `required_roles`)."""
    outside_window_roles: list[str] | None = None
    """A deployment in an avoid window (--outside-window) needs one approval from these.
    Default: `required_roles`, or ["senior-engineer"] when those are empty."""
    signed: bool | None = None
    """Whether an approval counts only when signed with the approver's key (`ssh_keys` of
    `people`). Default: true in production, false elsewhere. A signature that does not
    verify never counts, wherever it is."""


MOVED_KEYS = {
    "oncall": "who is on call is configured once, in integrations.oncall (a roster of names"
    " or shifts, or PagerDuty escalation_policy_ids)",
    "emergency": "monitoring after an emergency deployment is analysis.emergency_watch_for"
    " (seconds, default 7200)",
}


class PolicyConfig(Section):
    """The runbook's "Deployment Timing" and approval rules; defaults are the runbook's."""

    timezone: str = "America/Los_Angeles"
    enforce_window: bool = True
    """False: window and calendar freezes are shown and audited but do not refuse."""
    production: bool | None = None
    """Whether production rules apply (approval, required checklist). Default: the
    environment is named "production"."""
    windows: WindowsConfig = Field(default_factory=WindowsConfig)
    holidays: HolidaysConfig = Field(default_factory=HolidaysConfig)
    freezes: FreezesConfig = Field(default_factory=FreezesConfig)
    checklist: ChecklistConfig = Field(default_factory=ChecklistConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, where in MOVED_KEYS.items():
                if key in data:
                    raise ValueError(f"`{key}` is no longer a policy key: {where}")
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The policy's timezone."""
        return ZoneInfo(self.timezone)
