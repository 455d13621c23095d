"""The demo's story: policy, three releases on live traffic, an automatic rollback.

It runs on this machine in a fresh working directory with the tesoro sample
app: production's policy is evaluated for the real current time (never a faked
clock); when it forbids deploying now the refusal and its reasons are shown and
the story is told on staging, whose policy allows it; when production allows
it, the verified release is then promoted to production with its approvals.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.demo.sample import copy_example
from turnout.demo.traffic import TrafficDriver
from turnout.history import deployment_summary
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, Release
from turnout.policy import (
    DeploymentFlags,
    decide_window,
    evaluate_gates,
    evaluate_window,
    record_approval,
    record_attestation,
)
from turnout.report import compute_report, configured_targets
from turnout.runbook.engine import Engine, Result, StepEvent
from turnout.store import Store
from turnout.targets.local import start_host, stop_host
from turnout.targets.protocol import PRODUCTION
from turnout.targets.registry import create_target

EXAMPLE_PORTS = {"staging": "127.0.0.1:8081", "production": "127.0.0.1:8080"}
TRAFFIC_PATH = "/api/transactions/recent"
# Steps whose time is spent waiting on the app: booting it, warming it, checking it,
# watching its live traffic. Everything else is turnout's own work.
APP_WAIT_STEPS = {"stage", "warmup", "smoke", "verify"}
DEMO_DEPLOYER = "demo"


class Reporter(Protocol):
    """Where the story is told (the CLI renders it)."""

    def section(self, title: str) -> None:
        """A new chapter."""

    def line(self, text: str) -> None:
        """One line of narration."""

    def deployment(self, title: str) -> Any:
        """A context manager that is also a StepEvent callback (live progress)."""

    def history(self, rows: list[dict[str, Any]]) -> None:
        """Past deployments (documents as `turnout history --json` prints them)."""

    def report(self, document: dict[str, Any]) -> None:
        """Success metrics (as `turnout report --json` prints them)."""


@dataclass
class Chapter:
    """One deployment of the story, what it should do and what it did."""

    environment: str
    version: str
    expected: DeploymentStatus
    result: Result | None = None
    wall_s: float = 0.0
    app_wait_s: float = 0.0
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def own_s(self) -> float:
        """turnout's own work: wall time minus the time spent waiting on the app."""
        return max(self.wall_s - self.app_wait_s, 0.0)

    @property
    def ok(self) -> bool:
        """Whether the deployment ended as the story expects and every check held."""
        return (
            self.result is not None
            and self.result.status is self.expected
            and all(passed for _, passed in self.checks)
        )


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_workdir(workdir: Path) -> Path:
    """Copy the example into `workdir` on free ports, as a git repository (for tags)."""
    copy_example(workdir)
    config = workdir / "turnout.toml"
    text = config.read_text(encoding="utf-8")
    for address in EXAMPLE_PORTS.values():
        text = text.replace(address, f"127.0.0.1:{free_port()}")
    config.write_text(text, encoding="utf-8")
    git = ["git", "-c", "user.name=turnout demo", "-c", "user.email=demo@turnout.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tesoro sample app"]):
        subprocess.run([*git, *args], cwd=workdir, check=True, capture_output=True)
    return config


class Story:
    """Runs the demo; `run()` returns the exit code (0 only if every stage behaved)."""

    def __init__(
        self, workdir: Path, reporter: Reporter, *, keep: bool = False, rate: float = 100.0
    ) -> None:
        self.workdir = workdir
        self.reporter = reporter
        self.keep = keep
        self.rate = rate
        self.chapters: list[Chapter] = []
        self._hosts: list[EnvironmentConfig] = []
        self._drivers: list[TrafficDriver] = []
        self.config: LoadedConfig | None = None

    # -- the whole story ---------------------------------------------------------------
    def run(self) -> int:
        self.reporter.section("Setting up")
        config = load_config(prepare_workdir(self.workdir))
        self.config = config
        self.reporter.line(
            f"working directory {self.workdir} (tesoro sample app, a git repository)"
        )
        store = Store.open(config.state_dir)
        try:
            production_open = self._production_policy(config, store)
            self._tell(config, store, config.env("staging"))
            if production_open:
                self._promote(config, store, config.env("production"), "1.1.0")
            self._summary(store)
        finally:
            self._stop()
            store.close()
        return 0 if self.chapters and all(c.ok for c in self.chapters) else 1

    def _production_policy(self, config: LoadedConfig, store: Store) -> bool:
        self.reporter.section("Production policy, now")
        production = config.env("production")
        verdict = evaluate_window(config, production, store, store.now())
        decision = decide_window(production, verdict, DeploymentFlags(deployer=DEMO_DEPLOYER))
        self.reporter.line(f"window verdict for production: {verdict.kind.value}")
        for rule in verdict.rules:
            self.reporter.line(f"  {rule.effect}: {rule.reason}")
        if decision.ok:
            self.reporter.line(
                "production's window lets a deployment through now: the release verified on"
                " staging will be promoted there, with its checklist and approval"
            )
            return True
        info = DeploymentInfo(
            id="0",
            environment="production",
            version="1.1.0",
            type=DeploymentType.APP,
            deployer=DEMO_DEPLOYER,
            created_at=store.now(),
            package=config.resolve_path("dist/1.1.0"),
        )
        blocking = [g for g in evaluate_gates(config, production, store, info) if g.blocking]
        self.reporter.line("turnout refuses to deploy to production now (exit 3); the gates say:")
        for gate in blocking:
            self.reporter.line(f"  ✗ {gate.item or gate.gate}: {gate.summary}")
        self.reporter.line(
            "the story goes on on staging, whose policy allows deploying now"
            " (its window verdict is shown, not enforced)"
        )
        return False

    def _tell(self, config: LoadedConfig, store: Store, env: EnvironmentConfig) -> None:
        self.reporter.section(f"{env.name}: slot host and steady traffic")
        self._host_up(config, env)
        self._traffic(env, self.rate)
        self._deploy(
            config,
            store,
            env,
            "1.0.0",
            DeploymentStatus.SUCCEEDED,
            "the first release: transactions only",
        )
        chapter = self._deploy(
            config,
            store,
            env,
            "1.1.0",
            DeploymentStatus.SUCCEEDED,
            "adds rewards: backup, migration V001, warm-up, smoke, swap, verification",
        )
        chapter.checks.append(
            (
                "migration V001 applied and verified",
                _step_output(store, chapter, "verify-db", "summary") is not None
                and _migrated(store, chapter),
            )
        )
        chapter = self._deploy(
            config,
            store,
            env,
            "1.2.0",
            DeploymentStatus.ROLLED_BACK,
            "a regression: about 5 % of transaction requests fail",
        )
        live = create_target(config, env).slots().get(PRODUCTION)
        chapter.checks.append(
            ("production back on 1.1.0", live is not None and live.version == "1.1.0")
        )
        if chapter.result is not None and chapter.result.details:
            evidence = chapter.result.details.get("details", {}).get("evidence", {})
            self.reporter.line("evidence of the rollback:")
            for key in (
                "requests",
                "errors",
                "error_rate",
                "p95_ms",
                "errors_statistic",
                "errors_threshold",
                "crossed_after_swap_s",
            ):
                if key in evidence:
                    self.reporter.line(f"  {key}: {evidence[key]}")

    def _promote(
        self, config: LoadedConfig, store: Store, env: EnvironmentConfig, version: str
    ) -> None:
        self.reporter.section(f"production: promoting {version}")
        self._host_up(config, env)
        # A healthy release at the runbook's 0.1 % limit is proven by ~10,000 requests.
        self._traffic(env, max(self.rate, 300.0))
        for item in ("code_reviewed", "change_notification"):
            record_attestation(
                store,
                env.name,
                version,
                item,
                "eng-manager",
                note="attested by the demo's engineering manager",
            )
            self.reporter.line(f"eng-manager attests {item} for {version}")
        first = self._deploy(
            config,
            store,
            env,
            version,
            DeploymentStatus.WAITING_APPROVAL,
            "production needs a senior engineer's approval",
        )
        if first.result is None:
            return
        record_approval(
            config,
            store,
            first.result.deployment_id,
            "devops-lead",
            comment="approved by the demo's senior engineer",
        )
        self.reporter.line(
            f"devops-lead approves deployment {first.result.deployment_id};"
            " turnout resume continues it"
        )
        first_result = first.result
        self._run(
            config,
            store,
            env,
            version,
            DeploymentStatus.SUCCEEDED,
            "resumed after approval",
            lambda engine: engine.resume(DEMO_DEPLOYER) or first_result,
        )

    # -- one deployment ----------------------------------------------------------------
    def _deploy(
        self,
        config: LoadedConfig,
        store: Store,
        env: EnvironmentConfig,
        version: str,
        expected: DeploymentStatus,
        what: str,
    ) -> Chapter:
        release = Release(version, config.resolve_path(f"dist/{version}"))
        return self._run(
            config,
            store,
            env,
            version,
            expected,
            what,
            lambda engine: engine.deploy(release, DeploymentType.APP, DEMO_DEPLOYER, changes=what),
        )

    def _run(
        self,
        config: LoadedConfig,
        store: Store,
        env: EnvironmentConfig,
        version: str,
        expected: DeploymentStatus,
        what: str,
        action: Callable[[Engine], Result],
    ) -> Chapter:
        self.reporter.section(f"{env.name}: {version} — {what}")
        chapter = Chapter(env.name, version, expected)
        with self.reporter.deployment(f"{version} → {env.name}") as progress:
            engine = Engine(config, env, store, on_event=_Relay(progress))
            started = time.monotonic()
            chapter.result = action(engine)
            chapter.wall_s = time.monotonic() - started
        chapter.app_wait_s = sum(s for n, s in engine.step_seconds.items() if n in APP_WAIT_STEPS)
        result = chapter.result
        mark = "✓" if result.status is expected else "✗"
        self.reporter.line(
            f"{mark} exit {result.exit_code} ({result.status.value}), expected"
            f" {expected.value}: {result.message}"
        )
        self.chapters.append(chapter)
        return chapter

    # -- the end -----------------------------------------------------------------------
    def _summary(self, store: Store) -> None:
        self.reporter.section("History")
        self.reporter.history(
            [
                deployment_summary(store, row.id, with_steps=False)
                for row in store.deployments(None, limit=20)
            ]
        )
        self.reporter.section("Success metrics")
        targets = configured_targets(self.config.environments.values()) if self.config else None
        self.reporter.report(compute_report(store, None, now=store.now(), days=1, targets=targets))
        self.reporter.section("Timing (seconds)")
        self.reporter.line(f"{'deployment':<24} {'wall':>7} {'app':>7} {'turnout':>8}")
        for c in self.chapters:
            self.reporter.line(
                f"{c.version + ' → ' + c.environment:<24} {c.wall_s:>7.2f}"
                f" {c.app_wait_s:>7.2f} {c.own_s:>8.2f}"
            )
        self.reporter.line(
            "app = booting, warming, checking and watching the app; turnout ="
            " everything else (gates, journal, backup, migration, swap, records)"
        )
        for driver in self._drivers:
            counts = driver.snapshot()
            self.reporter.line(
                f"traffic to {driver.url}: {counts.sent} requests, {counts.ok} ok,"
                f" {counts.server_errors} server errors, {counts.no_answer}"
                " unanswered"
            )
        self.reporter.section("Result")
        for c in self.chapters:
            self.reporter.line(
                f"{'✓' if c.ok else '✗'} {c.version} → {c.environment}:"
                f" {c.result.status.value if c.result else 'not run'}"
            )
            for name, passed in c.checks:
                self.reporter.line(f"    {'✓' if passed else '✗'} {name}")

    # -- processes ---------------------------------------------------------------------
    def _host_up(self, config: LoadedConfig, env: EnvironmentConfig) -> None:
        status = start_host(config, env)
        self._hosts.append(env)
        self.reporter.line(
            f"slot host for {env.name} up; router on http://{status.get('address', '')}"
        )

    def _traffic(self, env: EnvironmentConfig, rate: float) -> None:
        address = getattr(env.target, "address", "")
        driver = TrafficDriver(f"http://{address}{TRAFFIC_PATH}", rate=rate)
        driver.start()
        self._drivers.append(driver)
        self.reporter.line(f"steady traffic: {rate:g} requests/s to http://{address}{TRAFFIC_PATH}")

    def _stop(self) -> None:
        for driver in self._drivers:
            driver.stop()
        if self.keep or self.config is None:
            return
        for env in self._hosts:
            stop_host(self.config, env)


class _Relay:
    """Forwards engine events to the reporter's progress display."""

    def __init__(self, progress: Callable[[StepEvent], None]) -> None:
        self._progress = progress

    def __call__(self, event: StepEvent) -> None:
        self._progress(event)


def _step_output(store: Store, chapter: Chapter, step: str, key: str) -> Any:
    if chapter.result is None:
        return None
    for row in store.steps(chapter.result.deployment_id):
        if row.name == step:
            return (row.outputs or {}).get(key)
    return None


def _migrated(store: Store, chapter: Chapter) -> bool:
    if chapter.result is None:
        return False
    statuses = {row.name: row.status for row in store.steps(chapter.result.deployment_id)}
    applied = _step_output(store, chapter, "migrate", "applied")
    return statuses.get("verify-db") == "succeeded" and bool(applied)
