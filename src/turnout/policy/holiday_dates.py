"""Public holidays by date, remembered per year and per install of the `holidays` package.

Asking the package imports every country it has (a tenth of a second or more) for each
`turnout window`. A year's holidays only change with the package, so the names of each
holiday of a year are computed once and kept in the user's cache folder, keyed by the
install of `holidays`; a different install computes its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from datetime import date
from pathlib import Path

from turnout.config.known_calendars import installed_holidays
from turnout.user_cache import cache_folder

_YEARS: dict[tuple[str, str | None, int], dict[str, list[str]]] = {}
_LOCK = threading.Lock()
_KEPT_INSTALLS = 8


def _cache_file() -> Path:
    return cache_folder() / "holiday-dates.json"


def _read() -> dict[str, dict[str, dict[str, list[str]]]]:
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        installs = data.get("installs", {})
        if isinstance(installs, dict):
            return installs
    return {}


def _write(install: str, years: dict[str, dict[str, list[str]]]) -> None:
    installs = {k: v for k, v in _read().items() if k != install}
    kept = dict(list(installs.items())[-(_KEPT_INSTALLS - 1) :])
    kept[install] = years
    path = _cache_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".holiday-dates-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"installs": kept}, handle)
        Path(name).replace(path)


def _compute(country: str, subdivision: str | None, year: int) -> dict[str, list[str]]:
    import holidays

    # The neighbouring years too: a holiday of one year can be observed on a day of the
    # next or the previous one (New Year's Day observed on December 31).
    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=range(year - 1, year + 2)
    )
    return {
        day.isoformat(): [str(n) for n in calendar.get_list(day)]
        for day in sorted(calendar)
        if day.year == year
    }


def holiday_names(country: str, subdivision: str | None, day: date) -> list[str]:
    """Names of the public holidays of a calendar on a date, as `holidays` spells them.

    Raises ValueError (NotImplementedError from the package) for an unknown calendar."""
    key = (country.upper(), subdivision.upper() if subdivision else None, day.year)
    with _LOCK:
        year = _YEARS.get(key)
        if year is None:
            install = installed_holidays()
            label = f"{key[0]}/{key[1] or ''}/{key[2]}"
            stored = _read().get(install, {}) if install else {}
            year = stored.get(label)
            if year is None:
                try:
                    year = _compute(key[0], key[1], key[2])
                except NotImplementedError as exc:
                    raise ValueError(str(exc)) from None
                if install:
                    _write(install, {**stored, label: year})
            _YEARS[key] = year
    return list(year.get(day.isoformat(), []))
