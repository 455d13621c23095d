"""The contract every installed target passes: App Service slot semantics, seen through the
protocol. The suite runs over every `turnout.targets` entry point; a target installed without
a way to build one here fails the suite instead of passing untested."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.azure_world import running_azure, write_azure_config
from tests.support.local_fixtures import make_package, running_host
from turnout.config import load_config
from turnout.errors import PackageError, StepError
from turnout.model import Release
from turnout.targets.protocol import (
    PRODUCTION,
    Deadline,
    Operation,
    OperationKind,
    OperationStatus,
    SlotStatus,
    Target,
    deploy_and_wait,
    swap_and_wait,
)
from turnout.targets.registry import create_target, installed_kinds


@dataclass
class Subject:
    """A target under test and a way to make releases it can deploy."""

    target: Target
    release: Callable[[str], Release]

    def get(self, url: str, path: str = "/health") -> dict[str, Any]:
        """GET a JSON document through the target's transport."""
        with httpx.Client(transport=self.target.transport(), timeout=10) as client:
            response = client.get(url + path)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


Builder = Callable[[Path, pytest.MonkeyPatch, Callable[[str], Release]], Iterator[Subject]]


@pytest.fixture(params=installed_kinds())
def subject(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Subject]:
    """Each installed target, fresh, with no version deployed."""
    builder = BUILDERS.get(request.param)
    if builder is None:
        pytest.fail(
            f"target {request.param!r} is installed, but the contract suite cannot build one"
        )
    packages = tmp_path / "packages"

    def release(version: str) -> Release:
        return Release(version, make_package(packages, version))

    yield from builder(tmp_path, monkeypatch, release)


def fake_subject(
    folder: Path, monkeypatch: pytest.MonkeyPatch, release: Callable[[str], Release]
) -> Iterator[Subject]:
    """The fake target, built through its entry point like any other."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "turnout.toml"
    path.write_text(
        '[app]\nname = "contract"\n[environments.contract]\ntarget = { kind = "fake" }\n'
    )
    config = load_config(path)
    target = create_target(config, config.env("contract"))
    try:
        yield Subject(target, release)
    finally:
        target.close()


def local_subject(
    folder: Path, monkeypatch: pytest.MonkeyPatch, release: Callable[[str], Release]
) -> Iterator[Subject]:
    """The local target: a real slot host with its router on a free port."""
    for host in running_host(folder / "host"):
        yield Subject(host.target, release)


def azure_subject(
    folder: Path, monkeypatch: pytest.MonkeyPatch, release: Callable[[str], Release]
) -> Iterator[Subject]:
    """The azure target, through the official SDK clients, on a local fake Azure."""
    with running_azure(folder / "azure") as world:
        for key, value in world.apply().items():
            monkeypatch.setenv(key, value)
        config = write_azure_config(world, folder / "project")
        target = create_target(config, config.env("production"))
        try:
            yield Subject(target, release)
        finally:
            target.close()


BUILDERS: dict[str, Builder] = {
    "fake": fake_subject,
    "local": local_subject,
    "azure": azure_subject,
}


def versions(target: Target) -> dict[str, str | None]:
    """Slot name -> version."""
    return {name: state.version for name, state in target.slots().items()}


def test_check_package_refuses_what_cannot_be_deployed(subject: Subject, tmp_path: Path) -> None:
    """A package that is not a zip or a directory is refused (exit 2) and nothing changes;
    a proper one passes."""
    bogus = tmp_path / "release.tar"
    bogus.write_bytes(b"not a zip")
    before = versions(subject.target)
    with pytest.raises(PackageError):
        subject.target.check_package(bogus)
    good = subject.release("1.0.0").package
    assert good is not None
    subject.target.check_package(good)
    assert versions(subject.target) == before


def test_production_slot_always_exists(subject: Subject) -> None:
    """A fresh target has an empty production slot."""
    slots = subject.target.slots()
    assert PRODUCTION in slots
    assert slots[PRODUCTION].version is None
    assert slots[PRODUCTION].state == "empty"


def test_ensure_slot_creates_an_empty_slot_once(subject: Subject) -> None:
    """ensure_slot creates the staging slot empty, and a second call changes nothing."""
    first = subject.target.ensure_slot("blue")
    assert (first.name, first.version, first.state) == ("blue", None, "empty")
    again = subject.target.ensure_slot("blue")
    assert again == first
    assert set(subject.target.slots()) == {PRODUCTION, "blue"}


def test_deploy_into_staging_slot_serves_that_version_on_its_url(subject: Subject) -> None:
    """A deployed slot is running and its own URL answers /health with the version."""
    subject.target.ensure_slot("blue")
    state = deploy_and_wait(subject.target, "blue", subject.release("1.0.0"))
    assert (state.version, state.state) == ("1.0.0", "running")
    assert state.url
    health = subject.get(state.url)
    assert (health["status"], health["version"]) == ("healthy", "1.0.0")
    assert versions(subject.target) == {PRODUCTION: None, "blue": "1.0.0"}


def test_deploy_is_idempotent_per_version(subject: Subject) -> None:
    """Deploying the version a slot already runs changes nothing observable."""
    subject.target.ensure_slot("blue")
    first = deploy_and_wait(subject.target, "blue", subject.release("1.0.0"))
    before = subject.target.slots()
    second = deploy_and_wait(subject.target, "blue", subject.release("1.0.0"))
    assert second == first
    assert subject.target.slots() == before


def test_deploy_into_missing_slot_is_a_step_error(subject: Subject) -> None:
    """Deploying to a slot that was never created fails as a step error."""
    with pytest.raises(StepError):
        deploy_and_wait(subject.target, "green", subject.release("1.0.0"))


def test_swap_exchanges_contents_and_keeps_the_old_version_warm(subject: Subject) -> None:
    """After a swap production serves the new version and staging holds the old one."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("1.0.0"))
    swap_and_wait(target, "blue", PRODUCTION)
    assert versions(target) == {PRODUCTION: "1.0.0", "blue": None}
    deploy_and_wait(target, "blue", subject.release("1.1.0"))
    swap_and_wait(target, "blue", PRODUCTION)
    assert versions(target) == {PRODUCTION: "1.1.0", "blue": "1.0.0"}
    assert subject.get(target.production_url())["version"] == "1.1.0"
    old = target.slots()["blue"]
    assert old.state == "running" and old.url
    assert subject.get(old.url)["version"] == "1.0.0"


def test_swap_back_restores_the_previous_version(subject: Subject) -> None:
    """Swapping again puts the previous version back in production at once."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("1.0.0"))
    swap_and_wait(target, "blue")
    deploy_and_wait(target, "blue", subject.release("2.0.0"))
    swap_and_wait(target, "blue")
    swap_and_wait(target, PRODUCTION, "blue")
    assert versions(target) == {PRODUCTION: "1.0.0", "blue": "2.0.0"}
    assert subject.get(target.production_url())["version"] == "1.0.0"


def test_observation_after_swap_is_stable(subject: Subject) -> None:
    """Observing twice after a swap gives the same answer (nothing moves by looking)."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("1.0.0"))
    swap_and_wait(target, "blue")
    assert target.slots() == target.slots()
    assert target.ensure_slot("blue") == target.slots()["blue"]


def test_swap_with_a_missing_slot_is_a_step_error(subject: Subject) -> None:
    """Swapping with a slot that does not exist fails and changes nothing."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("1.0.0"))
    before = versions(target)
    with pytest.raises(StepError):
        swap_and_wait(target, "green", PRODUCTION)
    assert versions(target) == before


def test_production_url_and_transport_reach_production(subject: Subject) -> None:
    """production_url, through transport(), answers with the production slot's version."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("3.0.0"))
    swap_and_wait(target, "blue")
    assert target.production_url().startswith("http")
    assert subject.get(target.production_url())["version"] == "3.0.0"
    target.close()


def test_slot_states_are_the_documented_enum_and_slot_url_follows_them(subject: Subject) -> None:
    """Slot states are SlotStatus values; a slot has a URL exactly while it runs, and
    slot_url gives the same URL the slot's state does."""
    target = subject.target
    target.ensure_slot("blue")
    assert target.slot_url("blue") is None
    assert target.slot_url("green") is None
    state = deploy_and_wait(target, "blue", subject.release("1.0.0"))
    assert state.state is SlotStatus.RUNNING
    assert all(isinstance(s.state, SlotStatus) for s in target.slots().values())
    assert target.slot_url("blue") == state.url
    assert subject.get(str(target.slot_url("blue")))["version"] == "1.0.0"


def test_swap_handle_survives_the_journal_and_says_when_traffic_moved(subject: Subject) -> None:
    """begin_swap's handle round-trips through JSON; following the copy gives the end of
    that swap, with traffic moving between its start and now."""
    target = subject.target
    target.ensure_slot("blue")
    deploy_and_wait(target, "blue", subject.release("1.0.0"))
    asked = time.time()
    operation = target.begin_swap("blue", PRODUCTION, deadline=Deadline.after(600))
    copy = Operation.from_dict(json.loads(json.dumps(operation.to_dict())))
    assert copy == operation and copy.kind is OperationKind.SWAP
    result = target.follow(copy, deadline=Deadline.after(600))
    assert result.status is OperationStatus.SUCCEEDED
    assert result.traffic_moved_at is not None
    assert asked - 1 <= result.traffic_moved_at <= time.time() + 1
    assert versions(target) == {PRODUCTION: "1.0.0", "blue": None}


def test_deploy_handle_is_followed_to_the_running_slot(subject: Subject) -> None:
    """begin_deploy gives a handle whose end is the slot running the release."""
    target = subject.target
    target.ensure_slot("blue")
    operation = target.begin_deploy("blue", subject.release("2.0.0"), deadline=Deadline.after(600))
    assert operation.kind is OperationKind.DEPLOY and operation.slot == "blue"
    result = target.follow(operation, deadline=Deadline.after(600))
    assert result.status is OperationStatus.SUCCEEDED
    assert result.state is not None
    assert (result.state.version, result.state.state) == ("2.0.0", SlotStatus.RUNNING)
