"""Calendar rules: freezes (Thanksgiving week, quarter ends, major holidays, custom periods,
active incidents) and avoid days (public holidays, month ends, listed dates).

Everything here works on local calendar dates and local instants of the policy's
timezone; windows.py turns an instant into local time before asking.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from turnout.config.policy import FreezePeriod, HolidaysConfig, PolicyConfig
from turnout.policy.holiday_dates import holiday_names
from turnout.policy.rules import FiredRule, WindowKind

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.integrations.incidents import ActiveIncident
    from turnout.store import Store

FROZEN = WindowKind.FROZEN
AVOID = WindowKind.AVOID


# -- fixed calendar facts ---------------------------------------------------------------
def thanksgiving(year: int) -> date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(calendar.THURSDAY - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def thanksgiving_week(year: int) -> tuple[date, date]:
    """Monday of Thanksgiving week through Cyber Monday (the Monday after), inclusive."""
    day = thanksgiving(year)
    return day - timedelta(days=3), day + timedelta(days=4)


def days_in_month(year: int, month: int) -> int:
    """Number of days in the month."""
    return calendar.monthrange(year, month)[1]


def quarter_of(day: date, fiscal_year_start_month: int = 1) -> int:
    """Quarter number (1-4) of a date for a fiscal year starting in the given month."""
    return ((day.month - fiscal_year_start_month) % 12) // 3 + 1


def is_quarter_end_month(month: int, fiscal_year_start_month: int = 1) -> bool:
    """Whether the month is the last of a quarter."""
    return (month - fiscal_year_start_month) % 3 == 2


# -- holidays ---------------------------------------------------------------------------
def public_holidays(config: HolidaysConfig, day: date) -> list[str]:
    """Names of the public holidays on a date (empty without a country)."""
    if config.country is None:
        return []
    try:
        return holiday_names(config.country, config.subdivision, day)
    except (ValueError, KeyError):
        # An unknown country is reported by `turnout check`; a verdict never crashes on it.
        return []


def _is_major(name: str, majors: Iterable[str]) -> bool:
    return any(name == major or name.startswith(major + " (") for major in majors)


def major_holidays(config: HolidaysConfig, day: date) -> list[str]:
    """Major holidays (and company holidays) on exactly this date."""
    names = [n for n in public_holidays(config, day) if _is_major(n, config.major)]
    if day in config.extra_dates:
        names.append("company holiday")
    return names


# -- rules ------------------------------------------------------------------------------
def freeze_rules(policy: PolicyConfig, local: datetime) -> list[FiredRule]:
    """Calendar freezes in force at a local instant (incidents are separate)."""
    day = local.date()
    fired: list[FiredRule] = []
    freezes = policy.freezes
    if freezes.thanksgiving_week:
        start, end = thanksgiving_week(day.year)
        if start <= day <= end:
            fired.append(
                FiredRule(
                    "freeze.thanksgiving-week",
                    FROZEN,
                    f"Black Friday / Cyber Monday week: Monday {start:%Y-%m-%d}"
                    f" through Cyber Monday {end:%Y-%m-%d}",
                )
            )
    n = freezes.quarter_end_days
    if n and is_quarter_end_month(day.month, freezes.fiscal_year_start_month):
        last = days_in_month(day.year, day.month)
        if day.day > last - n:
            first = date(day.year, day.month, max(last - n + 1, 1))
            quarter = quarter_of(day, freezes.fiscal_year_start_month)
            fired.append(
                FiredRule(
                    "freeze.quarter-end",
                    FROZEN,
                    f"end of quarter: last {n} days of Q{quarter}"
                    f" ({first:%Y-%m-%d} to {date(day.year, day.month, last):%Y-%m-%d})",
                )
            )
    if freezes.holidays:
        fired.extend(_holiday_freezes(policy.holidays, day))
    for period in freezes.periods:
        if period_contains(period, local):
            fired.append(FiredRule("freeze.period", FROZEN, describe_period(period)))
    return fired


def _holiday_freezes(config: HolidaysConfig, day: date) -> list[FiredRule]:
    fired: list[FiredRule] = []
    for offset in range(-config.days_after, config.days_before + 1):
        holiday_day = day + timedelta(days=offset)
        for name in major_holidays(config, holiday_day):
            if offset == 0:
                reason = f"major holiday: {name} ({holiday_day:%Y-%m-%d})"
            else:
                when = "before" if offset > 0 else "after"
                reason = (
                    f"holiday period: {abs(offset)} day(s) {when} {name} ({holiday_day:%Y-%m-%d})"
                )
            fired.append(FiredRule("freeze.holiday", FROZEN, reason))
    return fired


def avoid_day_rules(policy: PolicyConfig, local: datetime) -> list[FiredRule]:
    """Whole-day avoid rules: public holidays, month ends, listed dates."""
    day = local.date()
    windows = policy.windows
    fired: list[FiredRule] = []
    if windows.avoid_holidays:
        country = policy.holidays.country or ""
        where = country + (f"-{policy.holidays.subdivision}" if policy.holidays.subdivision else "")
        for name in public_holidays(policy.holidays, day):
            fired.append(FiredRule("avoid.holiday", AVOID, f"public holiday: {name} ({where})"))
    n = windows.month_end_days
    if n:
        last = days_in_month(day.year, day.month)
        if day.day > last - n:
            span = "last day" if n == 1 else f"last {n} days"
            fired.append(
                FiredRule("avoid.month-end", AVOID, f"end of month: {span} of {day:%B %Y}")
            )
    if day in windows.avoid_dates:
        fired.append(FiredRule("avoid.date", AVOID, f"listed avoid date {day:%Y-%m-%d}"))
    return fired


def incident_rules(incidents: Iterable[ActiveIncident]) -> list[FiredRule]:
    """One freeze per active incident; a source whose status is unknown and configured to
    warn is shown as an acceptable-window warning, never as "no incident"."""
    rules: list[FiredRule] = []
    for incident in incidents:
        if incident.unknown:
            rules.append(
                FiredRule(
                    "incidents.unknown",
                    WindowKind.ACCEPTABLE,
                    f"incident source {incident.source} unknown (warn only): {incident.title}",
                    ref=f"{incident.source}#unknown",
                )
            )
            continue
        rules.append(
            FiredRule(
                "freeze.incident",
                FROZEN,
                f"active incident {incident.source}#{incident.id}: {incident.title}"
                f" (opened {incident.opened_at})",
                ref=f"{incident.source}#{incident.id}",
            )
        )
    return rules


def current_incidents(
    config: LoadedConfig, env: EnvironmentConfig, store: Store
) -> list[ActiveIncident]:
    """Active incidents from the incident source, when the policy freezes on them."""
    if not env.policy.freezes.incidents:
        return []
    from turnout.errors import GateFailed, IntegrationError
    from turnout.integrations.incidents import active_incidents

    try:
        return active_incidents(config, env, store)
    except IntegrationError as exc:
        # A freeze gate must not pass on a guess: no answer is a refusal, not a pass.
        raise GateFailed(
            f"cannot tell whether an incident is active on {env.name}: {exc.message}",
            details=exc.details,
        ) from exc


# -- custom periods ---------------------------------------------------------------------
def period_bounds(period: FreezePeriod, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Aware start (included) and end (excluded) of a freeze period."""
    return _instant(period.start, zone, end=False), _instant(period.end, zone, end=True)


def _instant(value: datetime | date, zone: ZoneInfo, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(0), tzinfo=zone)


def period_contains(period: FreezePeriod, local: datetime) -> bool:
    """Whether the (aware) instant falls inside the period."""
    zone = local.tzinfo
    assert isinstance(zone, ZoneInfo)
    start, end = period_bounds(period, zone)
    # Compare in UTC: same-zone comparisons ignore fold in the repeated fall-back hour.
    return start.astimezone(UTC) <= local.astimezone(UTC) < end.astimezone(UTC)


def describe_period(period: FreezePeriod) -> str:
    """E.g. "freeze period year-end: 2026-12-20 to 2027-01-02 (inclusive) — code freeze"."""
    inclusive = not isinstance(period.end, datetime)
    text = f"freeze period {period.name}: {_when(period.start)} to {_when(period.end)}"
    if inclusive:
        text += " (inclusive)"
    if period.reason:
        text += f": {period.reason}"
    return text


def _when(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return value.isoformat()
