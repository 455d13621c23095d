"""`turnout watch`: judging production through the rollback window, rolling back on a regression."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.analysis.baseline import measure_baseline
from turnout.analysis.postdeploy import watch_environment
from turnout.analysis.router import RouterProvider
from turnout.analysis.simulate import CountingFakeTarget, VersionProfile
from turnout.analysis.watch import state_key
from turnout.cli.main import main
from turnout.cli.watch_cmd import parse_duration
from turnout.clock import FrozenClock
from turnout.config import LoadedConfig, load_config
from turnout.errors import BadInput, RolledBack
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.store import Store
from turnout.store.records import NewDeployment
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION

CONFIG = """
[app]
name = "shop"

[analysis]
poll_interval = 1.0
watch_for = 300

[environments.web]
target = { kind = "fake" }
"""

PROFILES = {
    "1.0": VersionProfile(0.001, 200),
    "1.1": VersionProfile(0.0005, 180),
    "bad": VersionProfile(0.05, 200),
}


def setup(
    tmp_path: Path,
    store: Store,
    clock: FrozenClock,
    *,
    version: str = "1.1",
    emergency: bool = False,
) -> tuple[LoadedConfig, CountingFakeTarget, int]:
    """1.0 live for ten minutes, then `version` deployed and swapped in, as the engine leaves it."""
    path = tmp_path / "turnout.toml"
    path.write_text(CONFIG)
    loaded = load_config(path)
    target = CountingFakeTarget(
        "web", lambda: clock.now().timestamp(), rps=50, profiles=PROFILES, seed=5
    )
    target.ensure_slot("blue")
    target.deploy(PRODUCTION, Release("1.0"))
    clock.advance(600)
    baseline = measure_baseline(RouterProvider(target), PRODUCTION, clock.now().timestamp(), 600)
    row = store.create_deployment(
        NewDeployment(
            environment="web",
            version=version,
            previous_version="1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.SUCCEEDED,
            deployer="ana",
            emergency=emergency,
        )
    )
    store.write_plan(row.id, ["snapshot", "swap", "verify"])
    store.record_step(row.id, "snapshot", "succeeded", outputs={"baseline": baseline.to_dict()})
    target.deploy("blue", Release(version))
    swapped_at = clock.now().timestamp()
    target.swap("blue", PRODUCTION)
    store.record_step(row.id, "swap", "succeeded", outputs={"swapped_at": swapped_at})
    clock.advance(5)
    return loaded, target, row.id


def run(
    loaded: LoadedConfig,
    store: Store,
    clock: FrozenClock,
    target: FakeTarget,
    duration: float | None = None,
) -> dict[str, object]:
    """One `turnout watch --env web` on the frozen clock."""
    return watch_environment(
        loaded,
        loaded.env("web"),
        store,
        clock,
        actor="watcher",
        duration=duration,
        target=target,
    )


def test_regression_during_the_window_rolls_back(tmp_path: Path, sqlite_store: Store) -> None:
    """The release degrades to 5 % errors three minutes in: swapped back, audited, recorded."""
    clock = FrozenClock()
    loaded, target, dep = setup(tmp_path, sqlite_store, clock)
    degrade_at = clock.now().timestamp() + 180
    target.simulated.set(PRODUCTION, degrade_at, 50, error_rate=0.05)
    with pytest.raises(RolledBack) as caught:
        run(loaded, sqlite_store, clock, target)
    assert target.slots()[PRODUCTION].version == "1.0"
    assert target.slots()["blue"].version == "1.1"
    crossed = caught.value.details["verdict"]["evidence"]["crossed_at"]
    assert degrade_at < crossed <= degrade_at + 10
    actions = [row.action for row in sqlite_store.audit_log(environment="web")]
    assert actions.index("watch.regressed") < actions.index("rollback")
    row = sqlite_store.deployment(dep)
    assert row is not None
    assert row.data.watch is not None and row.data.watch.status == "rolled-back"
    assert row.rolled_back_later is not None and row.rolled_back_later.by is not None
    state = sqlite_store.get(state_key("web", dep))
    assert state is not None and state["status"] == "rolled-back"
    # Started again, it knows the deployment was already rolled back.
    assert run(loaded, sqlite_store, clock, target)["status"] == "rolled-back"


def test_healthy_release_is_watched_to_the_end_of_the_window(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """No regression in the 5-minute window: the watch ends passed, and says so in the audit."""
    clock = FrozenClock()
    loaded, target, dep = setup(tmp_path, sqlite_store, clock)
    document = run(loaded, sqlite_store, clock, target)
    assert document["status"] == "passed"
    swapped_at = sqlite_store.steps(dep)[1].outputs["swapped_at"]
    assert clock.now().timestamp() >= swapped_at + 300
    assert target.slots()[PRODUCTION].version == "1.1"
    assert "watch.ended" in [r.action for r in sqlite_store.audit_log(environment="web")]
    assert run(loaded, sqlite_store, clock, target)["status"] == "window-over"


def test_watch_can_stop_and_start_again(tmp_path: Path, sqlite_store: Store) -> None:
    """Two short watches in a row carry on with the same totals from the swap."""
    clock = FrozenClock()
    loaded, target, dep = setup(tmp_path, sqlite_store, clock)
    run(loaded, sqlite_store, clock, target, duration=60)
    first = sqlite_store.get(state_key("web", dep))
    assert first is not None
    run(loaded, sqlite_store, clock, target, duration=60)
    second = sqlite_store.get(state_key("web", dep))
    assert second is not None
    assert second["totals"]["count"] > first["totals"]["count"] > 2000
    assert second["start"] == first["start"]


def test_emergency_deployments_are_watched_for_two_hours(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """An hour after an emergency swap the window is still open (2 h); after a normal one not."""
    clock = FrozenClock()
    loaded, target, _ = setup(tmp_path, sqlite_store, clock, version="bad", emergency=True)
    clock.advance(3600)
    with pytest.raises(RolledBack):
        run(loaded, sqlite_store, clock, target)

    clock = FrozenClock()
    other = tmp_path / "normal"
    other.mkdir()
    store = Store.open(other / ".turnout")
    try:
        loaded, target, _ = setup(other, store, clock, version="bad")
        clock.advance(3600)
        assert run(loaded, store, clock, target)["status"] == "window-over"
    finally:
        store.close()


def test_nothing_to_watch_when_production_moved_on(tmp_path: Path, sqlite_store: Store) -> None:
    """Someone swapped back by hand: the watch says so and does nothing."""
    clock = FrozenClock()
    loaded, target, _ = setup(tmp_path, sqlite_store, clock)
    target.swap("blue", PRODUCTION)
    assert run(loaded, sqlite_store, clock, target)["status"] == "superseded"


def test_target_without_metrics_cannot_be_watched(tmp_path: Path, sqlite_store: Store) -> None:
    """The plain fake target counts no traffic: a clear bad-input error, nothing changed."""
    clock = FrozenClock()
    loaded, _, _ = setup(tmp_path, sqlite_store, clock)
    plain = FakeTarget("web")
    plain.ensure_slot("blue")
    plain.deploy(PRODUCTION, Release("1.1"))
    with pytest.raises(BadInput, match="not measured"):
        run(loaded, sqlite_store, clock, plain)


def test_durations_parse() -> None:
    """--for accepts seconds, minutes and hours and refuses anything else."""
    assert parse_duration("90") == 90
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    with pytest.raises(BadInput, match="--for"):
        parse_duration("soon")


def test_cli_without_a_deployment_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`turnout watch` with nothing deployed exits 2 with one line naming the environment."""
    path = tmp_path / "turnout.toml"
    path.write_text(CONFIG)
    assert main(["watch", "--env", "web", "--config", str(path)]) == 2
    assert "web: no kept or held deployment to watch" in capsys.readouterr().err
