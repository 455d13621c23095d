"""Whether the `holidays` package knows a calendar, remembered per installed version of it.

Asking the package imports every country it has (a tenth of a second or more), and every
command validates the configuration. The answer only changes with the package, so a
calendar found once is remembered (in the user's cache folder, per install of `holidays`:
each virtual environment has its own) until that install changes; an unknown one is never
remembered, so its error stays exact.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

from turnout.user_cache import cache_folder


def _cache_file() -> Path:
    return cache_folder() / "known-calendars.json"


def installed_holidays() -> str | None:
    """The installed `holidays` distribution (its metadata folder's name, which carries the
    version), found without importing the package; None when it cannot be told."""
    with contextlib.suppress(Exception):
        spec = importlib.util.find_spec("holidays")
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations)))
            found = sorted(folder.parent.glob("holidays-*.dist-info"))
            if len(found) == 1:
                return f"{found[0].name}@{folder}"
    return None


_KEPT_INSTALLS = 8
"""How many installs of `holidays` (virtual environments) the cache keeps answers for."""


def _read() -> dict[str, list[str]]:
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        installs = data.get("installs", {})
        return {str(k): [str(n) for n in v] for k, v in installs.items() if isinstance(v, list)}
    return {}


def _remembered(version: str) -> set[str]:
    return set(_read().get(version, []))


def _remember(version: str, known: set[str]) -> None:
    path = _cache_file()
    installs = {k: v for k, v in _read().items() if k != version}
    # Newest last; the oldest installs are forgotten first.
    kept = dict(list(installs.items())[-(_KEPT_INSTALLS - 1) :])
    kept[version] = sorted(known)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".known-calendars-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"installs": kept}, handle)
        Path(name).replace(path)


def check_calendar(country: str, subdivision: str | None) -> None:
    """Raise ValueError when the `holidays` package does not know the calendar."""
    version = installed_holidays()
    name = f"{country}/{subdivision or ''}"
    known = _remembered(version) if version else set()
    if name in known:
        return
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(f"the holidays package does not know this calendar: {exc}") from None
    if version:
        _remember(version, known | {name})
