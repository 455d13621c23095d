"""A year's public holidays are computed once per install of `holidays` and then read back."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import holidays
import pytest

from turnout.policy import holiday_dates


def test_remembered_holidays_are_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names read back from the cache are the ones the package gives, for every day of a year."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(holiday_dates, "_YEARS", {})
    christmas = date(2026, 12, 25)
    assert holiday_dates.holiday_names("US", "CA", christmas) == ["Christmas Day"]
    [years] = json.loads((tmp_path / "turnout" / "holiday-dates.json").read_text())[
        "installs"
    ].values()
    assert "US/CA/2026" in years
    monkeypatch.setattr(holiday_dates, "_YEARS", {})  # a new process: only the file is left
    package = holidays.country_holidays("US", subdiv="CA", years=[2025, 2026, 2027])
    for day in (date(2026, 1, 1), date(2026, 7, 3), date(2026, 11, 26), date(2026, 3, 3)):
        assert holiday_dates.holiday_names("US", "CA", day) == package.get_list(day)


def test_an_unknown_calendar_is_a_value_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown country raises ValueError and writes nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ValueError):
        holiday_dates.holiday_names("XX", None, date(2026, 1, 1))
    assert not (tmp_path / "turnout" / "holiday-dates.json").exists()
