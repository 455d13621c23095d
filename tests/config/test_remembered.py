"""A validated configuration remembered in the user's cache is used only while nothing it
depends on changed, and never when anyone but the user could have written it."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from turnout.config import LoadedConfig, load_config
from turnout.config.problems import ConfigProblems
from turnout.config.remembered import remembered_config, snapshot_folder

VALID = """
[app]
name = "shop"

[environments.production]
target = { kind = "fake" }
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "turnout.toml"
    path.write_text(VALID, encoding="utf-8")
    return path


def _remembered_file() -> Path:
    files = list(snapshot_folder().glob("*.pickle"))
    assert len(files) == 1, files
    return files[0]


def _plant(file: Path, loaded: LoadedConfig) -> None:
    """Put another configuration where the cache keeps this file's, as the cache writes."""
    with file.open("rb") as handle:
        marks, _ = pickle.load(handle)
    with file.open("wb") as handle:
        pickle.dump((marks, loaded), handle)


def _renamed(loaded: LoadedConfig, name: str) -> LoadedConfig:
    app = loaded.root.app.model_copy(update={"name": name})
    return replace(loaded, root=loaded.root.model_copy(update={"app": app}))


def test_first_load_validates_and_equals_a_full_load(config: Path) -> None:
    """The first load is the validator's result, and is remembered for the next one."""
    loaded = remembered_config(config, environ={})
    assert loaded == load_config(config, environ={})
    assert _remembered_file().stat().st_mode & 0o077 == 0


def test_an_unchanged_file_reads_what_was_remembered(config: Path) -> None:
    """While the file and its overrides are unchanged, what the cache holds is returned."""
    loaded = remembered_config(config, environ={})
    _plant(_remembered_file(), _renamed(loaded, "remembered"))
    assert remembered_config(config, environ={}).root.app.name == "remembered"


def test_an_edited_file_is_validated_again(config: Path) -> None:
    """A changed byte of turnout.toml misses the cache: the new content is validated."""
    loaded = remembered_config(config, environ={})
    _plant(_remembered_file(), _renamed(loaded, "remembered"))
    config.write_text(VALID.replace('"shop"', '"till"'), encoding="utf-8")
    assert remembered_config(config, environ={}).root.app.name == "till"


def test_an_override_variable_is_part_of_the_key(config: Path) -> None:
    """Setting a TURNOUT__ override misses the cache; other variables do not matter."""
    loaded = remembered_config(config, environ={})
    _plant(_remembered_file(), _renamed(loaded, "remembered"))
    assert remembered_config(config, environ={"UNRELATED": "1"}).root.app.name == "remembered"
    overridden = remembered_config(config, environ={"TURNOUT__APP__NAME": "overridden"})
    assert overridden.root.app.name == "overridden"


def test_a_configuration_with_problems_is_never_remembered(config: Path) -> None:
    """Errors come from the validator each time, naming the key, and nothing is kept."""
    config.write_text(VALID + "\n[analysis]\nalpah = 0.05\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ConfigProblems, match=r"analysis\.alpah"):
            remembered_config(config, environ={})
    assert not list(snapshot_folder().glob("*.pickle"))


def test_a_cache_file_others_may_write_is_not_trusted(config: Path) -> None:
    """A remembered file writable by group or others is ignored: the file is validated."""
    loaded = remembered_config(config, environ={})
    planted = _remembered_file()
    _plant(planted, _renamed(loaded, "planted"))
    planted.chmod(0o666)
    assert remembered_config(config, environ={}).root.app.name == "shop"


def test_an_unreadable_cache_file_means_full_validation(config: Path) -> None:
    """A cache file that does not unpickle into a configuration is a miss, not an error."""
    remembered_config(config, environ={})
    _remembered_file().write_bytes(b"not a pickle")
    assert remembered_config(config, environ={}) == load_config(config, environ={})
    _remembered_file().write_bytes(pickle.dumps(([], {"not": "a configuration"})))
    assert remembered_config(config, environ={}) == load_config(config, environ={})
