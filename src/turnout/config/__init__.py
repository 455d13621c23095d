"""Configuration: Pydantic models of turnout.toml, loading, overrides, secret references."""

from turnout.config.loader import LoadedConfig, find_config, load_config
from turnout.config.root import EnvironmentConfig, TurnoutConfig

__all__ = ["EnvironmentConfig", "LoadedConfig", "TurnoutConfig", "find_config", "load_config"]
