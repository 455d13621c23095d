"""Verification that decides on any traffic: real tesoro processes behind a real slot host, the
real `turnout` command, probes over real HTTP, and a regression switched on while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.in_process import turnout_in_process
from tests.support.local_fixtures import running_host
from tests.support.tesoro_overrides import OVERRIDE, QUICK
from tests.support.waiting import wait_until
from turnout.analysis.watch import state_key
from turnout.config import load_config
from turnout.demo.story import TRAFFIC_PATH, prepare_workdir
from turnout.demo.traffic import TrafficDriver
from turnout.model import Release
from turnout.store import Store
from turnout.store.deployment_data import DeploymentData
from turnout.store.records import LaterRollback
from turnout.targets.local import LocalTarget
from turnout.targets.protocol import PRODUCTION

ENV = "staging"
NO_PROBES_SHORT = {OVERRIDE + "PROBE__MODE": '"off"', OVERRIDE + "MAX_OBSERVATION": "2"}


@dataclass
class Tesoro:
    """The sample app in a work directory, its staging slot host up."""

    root: Path
    config: Path
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "turnout", *args, "--config", str(self.config)]

    def environ(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, "TURNOUT_USER": "tester", **QUICK, **(overrides or {})}

    def turnout(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.environ(env),
            cwd=self.root,
            timeout=300,
            check=False,
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self.command(*args),
            env=self.environ(env),
            cwd=self.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.started.append(process)
        return process

    def deploy(self, version: str, env: dict[str, str] | None = None) -> int:
        done = self.turnout("deploy", "--env", ENV, "--version", version, "--yes", env=env)
        print(done.stderr[-3000:])
        return done.returncode

    def target(self) -> LocalTarget:
        loaded = load_config(self.config)
        return LocalTarget(loaded, loaded.env(ENV))

    def live(self) -> str | None:
        slot = self.target().slots().get(PRODUCTION)
        return slot.version if slot else None

    def store(self) -> Store:
        return Store.open(load_config(self.config).state_dir)

    def deployment_data(self, number: int) -> DeploymentData:
        store = self.store()
        try:
            row = store.deployment(number)
            assert row is not None
            return row.data
        finally:
            store.close()

    def later_rollback(self, number: int) -> LaterRollback:
        """The record of a deployment's later rollback (it must have one)."""
        store = self.store()
        try:
            row = store.deployment(number)
            assert row is not None and row.rolled_back_later is not None
            return row.rolled_back_later
        finally:
            store.close()

    def outputs(self, number: int, step: str) -> dict[str, Any]:
        store = self.store()
        try:
            found = [s for s in store.steps(number) if s.name == step]
            return dict(found[0].outputs or {}) if found else {}
        finally:
            store.close()

    def read(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that only reads, run in this process with the same settings."""
        argv = [*args, "--config", str(self.config)]
        return turnout_in_process(argv, cwd=self.root, env={"TURNOUT_USER": "tester", **QUICK})

    def status(self) -> str:
        done = self.read("status", "--env", ENV)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr


@pytest.fixture
def tesoro(tmp_path: Path) -> Iterator[Tesoro]:
    """tesoro's staging environment with its slot host running and nobody sending traffic."""
    root = tmp_path / "tesoro"
    app = Tesoro(root, prepare_workdir(root))
    up = app.turnout("host", "up", "--env", ENV)
    assert up.returncode == 0, up.stderr
    try:
        yield app
    finally:
        for process in app.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        app.turnout("host", "down", "--env", ENV)


def test_a_deploy_with_no_outside_traffic_decides_on_probes(tesoro: Tesoro) -> None:
    """With nobody sending requests, probes before and after the swap prove the release healthy."""
    assert tesoro.deploy("1.0.0") == 0
    verify = tesoro.outputs(1, "verify")
    evidence = verify["analysis"]["evidence"]
    assert verify["proven"] is True and verify["analysis"]["status"] == "pass"
    # The router counted the probes apart: besides them only the health checks and the E2E
    # command's walk on production were judged (nobody else sent anything).
    assert evidence["probe_requests"] >= 150
    assert evidence["live_requests"] == evidence["requests"] - evidence["probe_requests"] <= 20
    before = tesoro.outputs(1, "probe")
    assert before["verdict"]["kind"] in {"pass", "inconclusive"}
    for batch in [*before["probes"], *verify["probes"]]:
        assert batch["sent"] > 0 and batch["failed"] == 0
        assert batch["peak_per_second"] <= batch["rate_cap"]
    assert before["probes"][0]["phase"] == "before-swap"
    assert verify["probes"][0]["phase"] == "after-swap"
    metrics = tesoro.target().prometheus()
    assert 'turnout_slot_probe_requests_total{slot="production",status="2xx",version="1.0.0"}' in (
        metrics
    )
    assert "deployed to staging and verified" in tesoro.status()
    # Production's traffic around the swap is kept with the verification, for the report.
    verification = tesoro.deployment_data(1).verification
    assert verification is not None and verification.series
    swapped_at = tesoro.outputs(1, "swap")["swapped_at"]
    series = verification.series
    assert series[0].at < swapped_at < series[-1].at + series[-1].seconds
    assert sum(p.requests for p in series) >= evidence["requests"]
    # Every look of the analysis went with the deployment, probes apart, ending on its pass.
    looks = tesoro.deployment_data(1).analysis_series
    assert looks and looks[-1].kind == "pass" and looks[-1].phase == "after-swap"
    assert looks[-1].probe_requests == evidence["probe_requests"]
    assert looks[-1].requests == evidence["requests"]


def test_undecided_policies_accept_unproven_and_roll_back(tesoro: Tesoro) -> None:
    """accept keeps the release said to be unproven; rollback swaps back with exit 4."""
    accept = {**NO_PROBES_SHORT, OVERRIDE + "UNDECIDED": '"accept"'}
    assert tesoro.deploy("1.0.0", env=accept) == 0
    verification = tesoro.deployment_data(1).verification
    assert verification is not None and verification.proven is False
    assert "accepted unproven" in (verification.summary or "")
    history = tesoro.read("history", "--env", ENV)
    assert "not proven healthy" in history.stdout + history.stderr
    assert "verified" not in tesoro.status().split("latest:")[1].splitlines()[0]

    rollback = {**NO_PROBES_SHORT, OVERRIDE + "UNDECIDED": '"rollback"'}
    assert tesoro.deploy("1.1.0", env=rollback) == 4
    assert tesoro.live() == "1.0.0"
    failure = tesoro.deployment_data(2).failure
    assert failure is not None
    assert failure.step == "verify" and "not proven healthy" in failure.error


def test_a_held_release_can_be_watched_accepted_and_rolled_back(tesoro: Tesoro) -> None:
    """After a hold: a watch that stays undecided changes nothing, accept keeps it (audited),
    rollback goes back past it."""
    assert tesoro.deploy("1.0.0") == 0
    assert tesoro.deploy("1.1.0", env=NO_PROBES_SHORT) == 5
    assert tesoro.live() == "1.1.0"
    assert "held" in tesoro.status() and "turnout accept" in tesoro.status()
    # Without probes nobody sends traffic: the watch cannot decide, and the hold stands.
    watched = tesoro.turnout("watch", "--env", ENV, "--for", "3s", "--json", env=NO_PROBES_SHORT)
    assert watched.returncode == 0, watched.stderr
    document = json.loads(watched.stdout)
    assert document["deployment"] == 2 and document["status"] == "passed"
    assert document["verdict"]["kind"] == "inconclusive" and "proven" not in document
    held = tesoro.deployment_data(2)
    assert held.verification is not None and held.failure is not None
    assert held.verification.proven is False and held.failure.step == "verify"
    assert "held" in tesoro.status()

    refused = tesoro.turnout("accept", "--env", ENV, "--reason", " ")
    assert refused.returncode == 2
    accepted = tesoro.turnout("accept", "--env", ENV, "--reason", "checked by hand", "--as", "sam")
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted unproven by sam" in tesoro.status()
    store = tesoro.store()
    try:
        assert [r.action for r in store.audit_log(ENV, limit=50)].count("deploy.accepted") == 1
    finally:
        store.close()

    back = tesoro.turnout("rollback", "--env", ENV, "--as", "sam")
    assert back.returncode == 0, back.stderr
    assert tesoro.live() == "1.0.0"
    assert "staging was rolled back to 1.0.0 by sam at" in tesoro.status()


def test_a_watch_that_decides_healthy_proves_a_held_release(tesoro: Tesoro) -> None:
    """A held release that `turnout watch` (with its probes) then judges healthy is recorded as
    proven by the watch, with its evidence and when: status, history and the record say so."""
    assert tesoro.deploy("1.0.0") == 0
    assert tesoro.deploy("1.1.0", env=NO_PROBES_SHORT) == 5
    watched = tesoro.turnout("watch", "--env", ENV, "--for", "10s", "--json")
    assert watched.returncode == 0, watched.stderr
    document = json.loads(watched.stdout)
    assert document["verdict"]["kind"] == "pass" and document["proven"] is True
    assert document["probes"][0]["sent"] > 0  # the watch's own verification traffic
    assert tesoro.live() == "1.1.0"

    shown = tesoro.read("status", "--env", ENV, "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    latest = status["latest"]
    assert latest["id"] == 2 and latest["status"] == "succeeded" and latest["proven"] is True
    proof = latest["proven_by"]
    assert proof["by"] == "watch" and proof["was"].startswith("held")
    assert proof["evidence"]["requests"] > 0 and proof["at"] and proof["hold"]["step"] == "verify"
    assert "proven healthy afterwards by turnout watch" in status["happened"]
    assert latest["failure"] is None and status["next"] is None
    history = tesoro.read("history", "--env", ENV)
    assert "proven later by watch" in history.stdout + history.stderr
    store = tesoro.store()
    try:
        assert "watch.proven" in [r.action for r in store.audit_log(ENV, limit=50)]
    finally:
        store.close()


def test_rollback_goes_back_to_a_held_then_replaced_version(tesoro: Tesoro) -> None:
    """A held first release that a later one replaced can be rolled back to; the rollback is
    recorded on the deployment that was live, not on an older one of the same version."""
    assert tesoro.deploy("1.0.0", env=NO_PROBES_SHORT) == 5
    assert tesoro.deploy("1.1.0") == 0
    first = tesoro.turnout("rollback", "--env", ENV)
    assert first.returncode == 0, first.stderr
    assert tesoro.live() == "1.0.0"
    replaced = tesoro.later_rollback(2)
    assert replaced.to == "1.0.0"

    assert tesoro.deploy("1.1.0", env=NO_PROBES_SHORT) == 5  # held again, live
    second = tesoro.turnout("rollback", "--env", ENV, "--reason", "second look")
    assert second.returncode == 0, second.stderr
    assert tesoro.live() == "1.0.0"
    assert tesoro.later_rollback(3).reason == "second look"
    assert tesoro.later_rollback(2).at == replaced.at


def _watching(tesoro: Tesoro, deployment: int) -> bool:
    store = tesoro.store()
    try:
        record = store.get(state_key(ENV, deployment)) or {}
    finally:
        store.close()
    return record.get("status") == "watching" and int(record.get("polls", 0)) > 0


def test_watch_swaps_back_a_regression_switched_on_after_a_healthy_deploy(
    tesoro: Tesoro,
) -> None:
    """On live traffic, a fault switched on at run time after a healthy deploy is caught by
    `turnout watch`, which swaps back to the version before."""
    healthy = {OVERRIDE + "MAX_ERROR_RATE": "0.01"}
    assert tesoro.deploy("1.0.0", env=healthy) == 0
    assert tesoro.deploy("1.1.0", env=healthy) == 0
    driver = TrafficDriver(tesoro.target().production_url() + TRAFFIC_PATH, rate=60)
    driver.start()
    try:
        watch = tesoro.start("watch", "--env", ENV, "--for", "240s", env=healthy)
        wait_until(partial(_watching, tesoro, 2), timeout=60)
        (tesoro.root / "data" / "staging-fault-rate").write_text("0.2")
        _out, err = watch.communicate(timeout=200)
    finally:
        driver.stop()
    assert watch.returncode == 4, err[-3000:]
    assert tesoro.live() == "1.0.0"
    data = tesoro.deployment_data(2)
    reason = tesoro.later_rollback(2).reason
    assert reason is not None and reason.startswith("turnout watch")
    assert data.watch is not None and data.watch.status == "rolled-back"


def _served(target: LocalTarget, expected: dict[str, int]) -> bool:
    slots = target.status()["slots"]
    return all(slots[name]["traffic"]["requests_60s"] == count for name, count in expected.items())


def test_router_answers_without_a_version_are_not_the_apps_errors(tmp_path: Path) -> None:
    """The router's own 503s before anything is deployed are counted apart, and host status
    shows each version the traffic it served."""
    for host in running_host(tmp_path):
        target = host.target
        with httpx.Client(base_url=target.production_url(), timeout=10) as client:
            assert client.get("/health").status_code == 503
        assert "turnout_router_unavailable_total 1.0" in target.prometheus()
        target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        with httpx.Client(base_url=target.production_url(), timeout=10) as client:
            for _ in range(5):
                assert client.get("/health").status_code == 200
        target.ensure_slot("blue")
        target.deploy("blue", Release("1.1.0", host.package("1.1.0")))
        target.swap("blue", PRODUCTION)
        with httpx.Client(base_url=target.production_url(), timeout=10) as client:
            for _ in range(3):
                assert client.get("/health").status_code == 200

        wait_until(partial(_served, target, {"blue": 5, PRODUCTION: 3}), timeout=10)
        slots = target.status()["slots"]
        assert slots["blue"]["version"] == "1.0.0" and slots["blue"]["traffic"]["errors_60s"] == 0
        assert slots[PRODUCTION]["traffic"]["errors_60s"] == 0
        assert target.traffic(PRODUCTION, 0, version="1.1.0")[0].count <= 3
