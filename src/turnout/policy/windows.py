"""Window verdicts: best, acceptable, avoid or frozen at an instant, with every rule that
fired, and the next best and next acceptable start.

An instant is turned into the policy's local time with zoneinfo before any rule is
read, so "Tuesday 10:00" means 10:00 on the wall clock in that timezone on either
side of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from turnout.config.policy import WEEKDAYS, PolicyConfig, TimeRange
from turnout.policy.calendars import (
    avoid_day_rules,
    current_incidents,
    freeze_rules,
    incident_rules,
    period_bounds,
)
from turnout.policy.rules import FiredRule, WindowKind, WindowOverride

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.integrations.incidents import ActiveIncident
    from turnout.policy.flags import DeploymentFlags
    from turnout.store import Store

SEARCH_DAYS = 400
"""How far ahead the next best/acceptable start is looked for."""


@dataclass(frozen=True)
class WindowVerdict:
    """The verdict at an instant, why, and when the next good windows start."""

    kind: WindowKind
    at: datetime
    """The instant judged, in the policy's local time."""
    timezone: str
    rules: list[FiredRule] = field(default_factory=list)
    next_best: datetime | None = None
    next_acceptable: datetime | None = None
    """Earliest instant (at or after `at`) that is best or acceptable; calendar rules only."""

    @property
    def allows(self) -> bool:
        """Whether a normal deployment may proceed without any override."""
        return self.kind in {WindowKind.BEST, WindowKind.ACCEPTABLE}

    @property
    def incident_rules(self) -> list[FiredRule]:
        """Active-incident freezes among the fired rules."""
        return [r for r in self.rules if r.incident]

    @property
    def calendar_frozen(self) -> bool:
        """Whether a calendar freeze (not only an incident) fired."""
        return any(r.effect is WindowKind.FROZEN and not r.incident for r in self.rules)

    def deciding_rules(self) -> list[FiredRule]:
        """The rules whose effect is the verdict (the reasons to print first)."""
        return [r for r in self.rules if r.effect is self.kind]

    @property
    def summary(self) -> str:
        """One line: verdict and its deciding reasons."""
        reasons = "; ".join(r.reason for r in self.deciding_rules())
        return f"{self.kind.value} at {self.at:%a %Y-%m-%d %H:%M %Z}: {reasons}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "verdict": self.kind.value,
            "at": self.at.isoformat(),
            "at_utc": self.at.astimezone(UTC).isoformat(),
            "timezone": self.timezone,
            "rules": [r.to_dict() for r in self.rules],
            "next_best": self.next_best.isoformat() if self.next_best else None,
            "next_acceptable": self.next_acceptable.isoformat() if self.next_acceptable else None,
        }


def local_time(policy: PolicyConfig, at: datetime) -> datetime:
    """An aware instant in the policy's timezone (naive input is taken as local already)."""
    zone = policy.zone
    if at.tzinfo is None:
        return normalise(at.replace(tzinfo=zone))
    return at.astimezone(zone)


def normalise(local: datetime) -> datetime:
    """Round-trip through UTC so a wall time skipped by DST becomes a real instant."""
    zone = local.tzinfo
    assert zone is not None
    return local.astimezone(UTC).astimezone(zone)


def _minute(local: datetime) -> int:
    return local.hour * 60 + local.minute


def _in_range(rng: TimeRange, local: datetime) -> bool:
    return (
        WEEKDAYS[local.weekday()] in rng.days
        and rng.start_minute <= _minute(local) < rng.end_minute
    )


def rules_at(policy: PolicyConfig, at: datetime) -> list[FiredRule]:
    """Every calendar and window rule that applies at an instant (incidents excluded)."""
    local = local_time(policy, at)
    windows = policy.windows
    fired = freeze_rules(policy, local)
    fired += avoid_day_rules(policy, local)
    for rng in windows.avoid:
        if _in_range(rng, local):
            fired.append(
                FiredRule("avoid.time", WindowKind.AVOID, f"{rng.describe()} is to be avoided")
            )
    for rng in windows.best:
        if _in_range(rng, local):
            fired.append(FiredRule("best", WindowKind.BEST, f"{rng.describe()} is a best window"))
    for rng in windows.acceptable:
        if _in_range(rng, local):
            fired.append(
                FiredRule(
                    "acceptable", WindowKind.ACCEPTABLE, f"{rng.describe()} is an acceptable window"
                )
            )
    if not any(r.effect in {WindowKind.BEST, WindowKind.ACCEPTABLE} for r in fired):
        spans = ", ".join(r.describe() for r in [*windows.best, *windows.acceptable]) or "none"
        fired.append(
            FiredRule(
                "avoid.outside-windows",
                WindowKind.AVOID,
                f"outside every best and acceptable window ({spans})",
            )
        )
    return fired


def verdict_of(rules: Iterable[FiredRule]) -> WindowKind:
    """Frozen or avoid when any such rule fired; otherwise the best window that fired."""
    effects = {r.effect for r in rules}
    for kind in (WindowKind.FROZEN, WindowKind.AVOID, WindowKind.BEST, WindowKind.ACCEPTABLE):
        if kind in effects:
            return kind
    return WindowKind.AVOID


def window_verdict(
    policy: PolicyConfig,
    at: datetime,
    incidents: Sequence[ActiveIncident] = (),
    *,
    with_next: bool = True,
) -> WindowVerdict:
    """The verdict at `at` (aware, or naive = local time), with the next good starts."""
    local = local_time(policy, at)
    rules = incident_rules(incidents) + rules_at(policy, local)
    return WindowVerdict(
        kind=verdict_of(rules),
        at=local,
        timezone=policy.timezone,
        rules=rules,
        next_best=next_start(policy, local, {WindowKind.BEST}) if with_next else None,
        next_acceptable=(
            next_start(policy, local, {WindowKind.BEST, WindowKind.ACCEPTABLE})
            if with_next
            else None
        ),
    )


def evaluate_window(
    config: LoadedConfig, env: EnvironmentConfig, store: Store, at: datetime
) -> WindowVerdict:
    """The environment's verdict at `at`, active incidents included."""
    return window_verdict(env.policy, at, current_incidents(config, env, store))


def next_start(policy: PolicyConfig, at: datetime, kinds: set[WindowKind]) -> datetime | None:
    """The earliest instant at or after `at` whose calendar verdict is one of `kinds`.

    The verdict only changes at local midnight, at a range boundary, at a custom freeze
    period's edge or at a daylight-saving change, so only those instants are tried.
    """
    local = local_time(policy, at)
    if verdict_of(rules_at(policy, local)) in kinds:
        return local
    for candidate in _boundaries(policy, local):
        if verdict_of(rules_at(policy, candidate)) in kinds:
            return candidate
    return None


def _boundaries(policy: PolicyConfig, after: datetime) -> Iterable[datetime]:
    zone = after.tzinfo
    assert isinstance(zone, ZoneInfo)
    ranges = [*policy.windows.best, *policy.windows.acceptable, *policy.windows.avoid]
    periods = [period_bounds(p, zone) for p in policy.freezes.periods]
    day = after.date()
    for _ in range(SEARCH_DAYS):
        weekday = WEEKDAYS[day.weekday()]
        minutes = {0}
        for rng in ranges:
            if weekday in rng.days:
                minutes.update({rng.start_minute, rng.end_minute})
        candidates = {
            normalise(datetime.combine(day, time(m // 60, m % 60), tzinfo=zone))
            for m in minutes
            if m < 24 * 60
        }
        for start, end in periods:
            candidates.update(
                edge.astimezone(zone)
                for edge in (start, end)
                if edge.astimezone(zone).date() == day
            )
        candidates.update(_offset_changes(day, zone))
        # Same-zone aware datetimes compare by wall time, ignoring fold; compare in UTC
        # so the repeated hour of a fall-back day is ordered correctly.
        for candidate in sorted(candidates, key=lambda c: c.astimezone(UTC)):
            if candidate.astimezone(UTC) > after.astimezone(UTC):
                yield candidate
        day += timedelta(days=1)


def _offset_changes(day: date, zone: ZoneInfo) -> list[datetime]:
    """The instant (to the minute) the UTC offset changes on this local day, if it does."""
    low = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    high = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    if (
        low.astimezone(zone).utcoffset()
        == (high - timedelta(minutes=1)).astimezone(zone).utcoffset()
    ):
        return []
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(minutes=1):
        mid = low + (high - low) / 2
        mid = mid.replace(second=0, microsecond=0)
        if mid <= low:
            break
        if mid.astimezone(zone).utcoffset() == before:
            low = mid
        else:
            high = mid
    return [high.astimezone(zone)]


@dataclass(frozen=True)
class WindowDecision:
    """Whether the window gate lets a deployment through, and on what grounds."""

    ok: bool
    verdict: WindowVerdict
    message: str
    overrides: tuple[WindowOverride, ...] = ()
    """Empty when the verdict let it through by itself; an emergency proceeding during an
    incident it fixes has EMERGENCY then INCIDENT."""

    @property
    def override(self) -> str | None:
        """The overrides as recorded in the journal and the audit log ("emergency+incident"),
        None without one."""
        return "+".join(self.overrides) or None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "override": self.override,
            "message": self.message,
            **self.verdict.to_dict(),
        }


def _fixes(rule: FiredRule, fixes: Sequence[str]) -> bool:
    ref = rule.ref or ""
    return ref in fixes or ref.split("#", 1)[-1] in fixes


def decide_window(
    env: EnvironmentConfig, verdict: WindowVerdict, flags: DeploymentFlags
) -> WindowDecision:
    """Apply the override rules to a verdict.

    - best/acceptable: go.
    - avoid: only with --outside-window and a reason (an approval is then required),
      or as an emergency.
    - frozen by the calendar: only as an emergency (approved by an emergency role).
    - frozen by an active incident: never silently; an emergency proceeds only when it
      names every active incident it is meant to fix (--fixes-incident ID).
    - enforce_window = false: calendar verdicts are advisory; incidents still freeze.
    """
    from turnout.policy.approvals import outside_window_roles

    policy = env.policy
    emergency_roles = " or ".join(policy.approvals.emergency_roles)
    nxt = verdict.next_acceptable
    when = f"; next acceptable start {nxt:%a %Y-%m-%d %H:%M %Z}" if nxt else ""
    overrides: list[WindowOverride] = []

    incidents = verdict.incident_rules
    if incidents:
        unfixed = [
            r for r in incidents if not (flags.emergency and _fixes(r, flags.fixes_incidents))
        ]
        if unfixed:
            reasons = "; ".join(r.reason for r in unfixed)
            refs = " ".join(f"--fixes-incident {(r.ref or '').split('#', 1)[-1]}" for r in unfixed)
            hint = (
                f"an emergency proceeds during an active incident only when it names it ({refs})"
                if flags.emergency
                else "deploy after the incident is closed, or as an emergency that names it"
                f" (--emergency --reason TEXT {refs})"
            )
            return WindowDecision(False, verdict, f"frozen: {reasons}; {hint}")
        overrides.append(WindowOverride.INCIDENT)

    calendar_frozen = verdict.calendar_frozen
    avoid = verdict.kind is WindowKind.AVOID or (
        calendar_frozen and any(r.effect is WindowKind.AVOID for r in verdict.rules)
    )
    if calendar_frozen or avoid:
        deciding = [r for r in verdict.rules if r.effect in {WindowKind.FROZEN, WindowKind.AVOID}]
        deciding = [r for r in deciding if not r.incident]
        reasons = "; ".join(r.reason for r in deciding)
        if not policy.enforce_window:
            base = WindowOverride.ADVISORY
        elif flags.emergency:
            base = WindowOverride.EMERGENCY
        elif calendar_frozen:
            return WindowDecision(
                False,
                verdict,
                f"frozen: {reasons}; only an emergency deployment (--emergency --reason TEXT)"
                f" approved by {emergency_roles} may proceed{when}",
            )
        elif flags.outside_window and flags.outside_window_reason:
            base = WindowOverride.OUTSIDE_WINDOW
        elif flags.outside_window:
            return WindowDecision(
                False, verdict, f"avoid: {reasons}; --outside-window needs --reason TEXT"
            )
        else:
            roles = " or ".join(outside_window_roles(env))
            return WindowDecision(
                False,
                verdict,
                f"avoid: {reasons}{when}; to deploy now use --outside-window --reason TEXT"
                f" with an approval from {roles}",
            )
        overrides.insert(0, base)
        message = f"{verdict.kind.value} overridden ({base}): {reasons}"
    else:
        message = verdict.summary
    if WindowOverride.INCIDENT in overrides:
        refs = ", ".join(r.ref or "" for r in incidents)
        message += f"; emergency proceeds during active incident(s) it fixes: {refs}"
        if len(overrides) == 1:
            overrides.insert(0, WindowOverride.EMERGENCY)
    return WindowDecision(True, verdict, message, tuple(overrides))
