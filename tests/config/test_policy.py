"""Policy configuration: keys that moved elsewhere are refused with a pointer to their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.analysis.postdeploy import watch_environment
from turnout.clock import FrozenClock
from turnout.config import load_config
from turnout.errors import ConfigError
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.records import NewDeployment

BASE = """
[app]
name = "shop"

[analysis]
watch_for = 600
emergency_watch_for = 5400

[environments.production]
target = { kind = "fake" }
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "turnout.toml"
    path.write_text(BASE + extra)
    return path


def test_policy_emergency_monitoring_key_is_refused_with_its_replacement(tmp_path: Path) -> None:
    """policy.emergency is gone: the error names the file and key and the analysis key to use."""
    path = _write(tmp_path, "\n[environments.production.policy.emergency]\nmonitor_minutes = 90\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert str(path) in message
    assert "environments.production.policy" in message
    assert "analysis.emergency_watch_for" in message


@pytest.mark.parametrize(("emergency", "window"), [(True, 5400.0), (False, 600.0)])
def test_emergency_monitoring_length_is_analysis_emergency_watch_for(
    tmp_path: Path, sqlite_store: Store, emergency: bool, window: float
) -> None:
    """`turnout watch` keeps an emergency deployment's window open emergency_watch_for seconds."""
    loaded = load_config(_write(tmp_path))
    clock = FrozenClock()
    row = sqlite_store.create_deployment(
        NewDeployment(
            environment="production",
            version="1.1",
            previous_version="1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.SUCCEEDED,
            deployer="ana",
            emergency=emergency,
        )
    )
    swapped_at = clock.now().timestamp()
    sqlite_store.write_plan(row.id, ["swap"])
    sqlite_store.record_step(row.id, "swap", "succeeded", outputs={"swapped_at": swapped_at})
    clock.advance(window)
    document = watch_environment(
        loaded, loaded.env("production"), sqlite_store, clock, actor="watcher"
    )
    assert document["status"] == "window-over"
    assert document["until"] == swapped_at + window
