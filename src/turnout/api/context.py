"""What every API call starts from: the configuration, the state store and who is acting."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

# The configuration models and the store are imported by the call that needs them: a
# command that reads one of them does not pay for the other's import time.
if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store

ConfigSource: TypeAlias = "LoadedConfig | Path | str | None"
"""A loaded configuration, a path to turnout.toml, or None for the nearest one upwards."""


def load(source: ConfigSource = None, *, remembered: bool = False) -> LoadedConfig:
    """The validated configuration (a ConfigError, exit 2, names the file and key).

    `remembered`: for calls that only read, the validated configuration the user's cache
    remembers for this exact file and installation, when it does (turnout.config.remembered).
    """
    from turnout.config import LoadedConfig, load_config

    if isinstance(source, LoadedConfig):
        return source
    path = Path(source) if source is not None else None
    if remembered:
        from turnout.config.remembered import remembered_config

        return remembered_config(path)
    return load_config(path)


def environment(config: LoadedConfig, name: str) -> EnvironmentConfig:
    """The named environment (an unknown name is bad input)."""
    return config.env(name)


def open_store(config: LoadedConfig, *, read_only: bool = False) -> Store:
    """The state store that belongs to this configuration. Calls that only read
    (`read_only`) do not create one: without it they see an empty store."""
    from turnout.store import Store

    return Store.open(config.state_dir, create=not read_only)


def acting_user(given: str | None = None) -> str:
    """The acting person: the name given, TURNOUT_USER, or the OS user."""
    if given:
        return given
    return os.environ.get("TURNOUT_USER") or getpass.getuser()
