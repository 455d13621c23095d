"""Calendars the `holidays` package knows are remembered per installed version of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.config.known_calendars import check_calendar


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache folder, empty, in a temporary directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "turnout" / "known-calendars.json"


def test_a_known_calendar_is_remembered(cache: Path) -> None:
    """A calendar the package knows is written to the cache with the package's identity."""
    check_calendar("US", "CA")
    [(install, known)] = json.loads(cache.read_text())["installs"].items()
    assert "US/CA" in known and install.startswith("holidays-")


def test_an_unknown_calendar_is_refused_and_never_remembered(cache: Path) -> None:
    """An unknown country is a ValueError every time, and the cache does not list it."""
    for _ in range(2):
        with pytest.raises(ValueError, match="does not know this calendar"):
            check_calendar("XX", None)
    installs = json.loads(cache.read_text())["installs"] if cache.exists() else {}
    assert not any("XX/" in known for known in installs.values())


def test_a_cache_from_another_holidays_version_is_not_trusted(cache: Path) -> None:
    """What another version of the package knew is asked again, not taken on trust."""
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"installs": {"holidays-0.1.dist-info@/x": ["XX/"]}}))
    with pytest.raises(ValueError, match="does not know this calendar"):
        check_calendar("XX", None)


def test_installs_keep_their_own_answers(cache: Path) -> None:
    """Another virtual environment's answers do not replace this one's."""
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"installs": {"holidays-0.1.dist-info@/other": ["DE/"]}}))
    check_calendar("US", None)
    installs = json.loads(cache.read_text())["installs"]
    assert installs["holidays-0.1.dist-info@/other"] == ["DE/"]
    assert any("US/" in known for name, known in installs.items() if "/other" not in name)
