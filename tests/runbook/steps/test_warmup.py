"""Warm-up against a real HTTP server: client errors fail it unless listed; the host's own
health poll follows the first health check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.fakes.webhook_server import FakeHttpServer, RecordedRequest, Response, json_response
from tests.support.project import fake_project
from turnout.clock import FrozenClock
from turnout.config import load_config
from turnout.errors import StepError
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, Release
from turnout.runbook.step import StepContext
from turnout.runbook.steps.warmup import WarmupStep
from turnout.store import Store
from turnout.store.records import NewDeployment
from turnout.targets.fake import FakeTarget
from turnout.targets.local.paths import local_settings
from turnout.targets.protocol import SlotState


class Slot(FakeHttpServer):
    """A slot process that answers every request with one status."""

    status = 200

    def handle(self, request: RecordedRequest) -> Response:
        return json_response(self.status, {"status": "healthy"})


class ServedTarget(FakeTarget):
    """The fake target, but its staging slot is served by a real HTTP server."""

    def __init__(self, url: str) -> None:
        super().__init__("web")
        self.url = url
        self.ensure_slot("blue")
        self.deploy("blue", Release("1.1.0"))

    def slots(self) -> dict[str, SlotState]:
        states = super().slots()
        states["blue"] = replace(states["blue"], url=self.url)
        return states

    def transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()  # the real network: the slot is a real server


@pytest.fixture
def slot() -> Iterator[Slot]:
    """The staging slot's server."""
    with Slot() as server:
        yield server


def _context(tmp_path: Path, store: Store, slot: Slot, warmup: str) -> StepContext:
    project = fake_project(tmp_path / "project")
    text = project.config.read_text().replace("[checks.warmup]\n", f"[checks.warmup]\n{warmup}")
    project.config.write_text(text)
    config = load_config(project.config)
    clock = FrozenClock()
    row = store.create_deployment(
        NewDeployment(
            environment="web",
            version="1.1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="tester",
        )
    )
    info = DeploymentInfo(
        id=row.id,
        environment="web",
        version="1.1.0",
        type=DeploymentType.APP,
        deployer="tester",
        created_at=clock.now(),
    )
    target = ServedTarget(slot.url)
    return StepContext(
        config=config,
        env=config.env("web"),
        deployment=info,
        store=store,
        clock=clock,
        target_factory=lambda: target,
    )


def test_client_error_fails_the_warmup_at_once(
    tmp_path: Path, sqlite_store: Store, slot: Slot
) -> None:
    """A 404 on the warm-up path is a wrong path: the step fails on the first answer."""
    slot.status = 404
    ctx = _context(tmp_path, sqlite_store, slot, 'path = "/healthz"\n')
    with pytest.raises(StepError) as failed:
        WarmupStep().run(ctx)
    assert "status 404 (a client error)" in failed.value.message
    assert "checks.warmup.accept_status" in failed.value.message
    assert [r.path for r in slot.requests] == ["/healthz"]


def test_listed_client_error_counts_as_answered(
    tmp_path: Path, sqlite_store: Store, slot: Slot
) -> None:
    """With accept_status = [401] a login-protected path warms the slot up."""
    slot.status = 401
    ctx = _context(tmp_path, sqlite_store, slot, "accept_status = [401]\n")
    outputs = WarmupStep().run(ctx)
    assert outputs.ok == outputs.requests == 1
    assert len(slot.requests) == 1


def test_host_health_poll_follows_the_first_health_check(tmp_path: Path) -> None:
    """Unless health_path is set, the slot host polls the first `checks.health` path."""
    extra = """
[[checks.health]]
path = "/-/versions.json"

[environments.local]
target = { kind = "local" }

[environments.pinned]
target = { kind = "local", address = "127.0.0.1:8081", health_path = "/ping" }
"""
    config = load_config(fake_project(tmp_path, extra=extra).config)
    assert local_settings(config.env("local")).health_path == "/-/versions.json"
    assert local_settings(config.env("pinned")).health_path == "/ping"
