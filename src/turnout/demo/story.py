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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from turnout import api
from turnout.api import DeploymentStatus, DeployResult, StepEvent
from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.demo.sample import copy_example
from turnout.demo.traffic import TrafficDriver

if TYPE_CHECKING:
    from turnout.api.report_figures import ReportResult

EXAMPLE_PORTS = {"staging": "127.0.0.1:8081", "production": "127.0.0.1:8080"}
TRAFFIC_PATH = "/api/transactions/recent"
PRODUCTION = "production"
# Where a deployment's time goes, by step. Everything else is turnout's own work: gates,
# journal, announcements, backup, migration, the swap itself, records.
APP_STEPS = frozenset({"stage", "warmup", "smoke"})
"""Waiting on the app: booting it in the staging slot, warming it up, smoke-testing it."""
VERIFICATION_STEPS = frozenset({"probe", "verify"})
"""Judging the release: verification traffic on the staging slot before the swap, then
production's live traffic (and the E2E command) after it, until a verdict."""
TARGET_CHECK_STEPS = frozenset({"preflight"})
"""Asking the target before anything is announced: is the package safe, what is live, can
the host follow the configuration."""
DEMO_DEPLOYER = "demo"
APPROVER = "devops-lead"
"""The senior engineer who approves production, with a signing key made for the demo."""
ATTESTER = "eng-manager"
"""Who attests production's checklist items, with a key of their own."""


class Reporter(Protocol):
    """Where the story is told (the CLI renders it)."""

    def section(self, title: str) -> None:
        """A new chapter."""

    def line(self, text: str) -> None:
        """One line of narration."""

    def deployment(self, title: str) -> Any:
        """A context manager that is also a StepEvent callback (live progress)."""

    def history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Past deployments (documents as `turnout history --json` prints them)."""

    def report(self, result: ReportResult) -> None:
        """Success metrics and DORA's measures (as `turnout report` shows them)."""


@dataclass
class Chapter:
    """One deployment of the story, what it should do and what it did."""

    environment: str
    version: str
    expected: DeploymentStatus
    result: DeployResult | None = None
    wall_s: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    """Unix time the deployment started (to attribute the traffic's errors)."""
    finished_at: float = 0.0
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def overlaps(self, second: int) -> bool:
        """Whether the Unix second [second, second + 1) falls within the deployment."""
        return second + 1 > self.started_at and second <= self.finished_at

    def _in(self, steps: frozenset[str]) -> float:
        return sum(seconds for name, seconds in self.step_seconds.items() if name in steps)

    @property
    def app_wait_s(self) -> float:
        """Waiting on the app: staging, warm-up, smoke tests."""
        return self._in(APP_STEPS)

    @property
    def verification_s(self) -> float:
        """Judging the release on verification and live traffic until a verdict."""
        return self._in(VERIFICATION_STEPS)

    @property
    def target_checks_s(self) -> float:
        """The preflight's questions to the target and the package."""
        return self._in(TARGET_CHECK_STEPS)

    @property
    def own_s(self) -> float:
        """turnout's own work: wall time minus waiting on the app, judging the release and
        the preflight's target checks."""
        waited = self.app_wait_s + self.verification_s + self.target_checks_s
        return max(self.wall_s - waited, 0.0)

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
        self._driven: dict[str, str] = {}
        """Traffic URL -> the environment it goes to."""
        self.config: LoadedConfig | None = None

    # -- the whole story ---------------------------------------------------------------
    def run(self) -> int:
        self.reporter.section("Setting up")
        config = load_config(prepare_workdir(self.workdir))
        self.config = config
        self.reporter.line(
            f"working directory {self.workdir} (tesoro sample app, a git repository)"
        )
        try:
            production_open = self._production_policy(config)
            self._tell(config, config.env("staging"))
            if production_open:
                self._promote(config, config.env(PRODUCTION), "1.1.0")
            self._summary(config)
        finally:
            self._stop()
        return 0 if self.chapters and all(c.ok for c in self.chapters) else 1

    def _production_policy(self, config: LoadedConfig) -> bool:
        self.reporter.section("Production policy, now")
        window = api.window(PRODUCTION, config=config)
        self.reporter.line(f"window verdict for production: {window.verdict.kind.value}")
        for rule in window.verdict.rules:
            self.reporter.line(f"  {rule.effect}: {rule.reason}")
        plan = api.plan(
            PRODUCTION,
            "1.1.0",
            package=config.resolve_path("dist/1.1.0"),
            actor=DEMO_DEPLOYER,
            config=config,
        )
        if all(g.ok for g in plan.gates if g.gate == "window"):
            self.reporter.line(
                "production's window lets a deployment through now: the release verified on"
                " staging will be promoted there, with its checklist and approval"
            )
            return True
        # The preflight asks production's slot host, which is not up yet: only policy here.
        blocking = [g for g in plan.blocking if g.gate != "preflight"]
        self.reporter.line("turnout refuses to deploy to production now (exit 3); the gates say:")
        for gate in blocking:
            self.reporter.line(f"  ✗ {gate.item or gate.gate}: {gate.summary}")
        self.reporter.line(
            "the story goes on on staging, whose policy allows deploying now"
            " (its window verdict is shown, not enforced)"
        )
        return False

    def _tell(self, config: LoadedConfig, env: EnvironmentConfig) -> None:
        self.reporter.section(f"{env.name}: slot host and steady traffic")
        self._host_up(config, env)
        self._traffic(env, self.rate)
        self._deploy(
            config,
            env,
            "1.0.0",
            DeploymentStatus.SUCCEEDED,
            "the first release: transactions only",
        )
        chapter = self._deploy(
            config,
            env,
            "1.1.0",
            DeploymentStatus.SUCCEEDED,
            "adds rewards: backup, migration V001, warm-up, smoke, swap, verification",
        )
        chapter.checks.append(
            (
                "migration V001 applied and verified",
                _step_output(chapter, "verify-db", "summary") is not None and _migrated(chapter),
            )
        )
        chapter = self._deploy(
            config,
            env,
            "1.2.0",
            DeploymentStatus.ROLLED_BACK,
            "a regression: about 5 % of transaction requests fail",
        )
        slots = api.status(env.name, config=config).slots or ()
        live = next((slot.version for slot in slots if slot.name == PRODUCTION), None)
        chapter.checks.append(("production back on 1.1.0", live == "1.1.0"))
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

    def _promote(self, config: LoadedConfig, env: EnvironmentConfig, version: str) -> None:
        self.reporter.section(f"production: promoting {version}")
        config, signing_key = self._signing_key(config, APPROVER)
        config, attesting_key = self._signing_key(config, ATTESTER)
        self.config = config
        env = config.env(env.name)
        self._host_up(config, env)
        # A healthy release at the runbook's 0.1 % limit is proven by ~10,000 requests.
        self._traffic(env, max(self.rate, 300.0))
        for item in ("code_reviewed", "change_notification"):
            api.attest(
                item,
                env.name,
                version,
                note="attested by the demo's engineering manager",
                actor=ATTESTER,
                signing_key=attesting_key,
                config=config,
            )
            self.reporter.line(f"eng-manager attests {item} for {version}")
        first = self._deploy(
            config,
            env,
            version,
            DeploymentStatus.WAITING_APPROVAL,
            "production needs a senior engineer's approval",
        )
        if first.result is None:
            return
        api.approve(
            first.result.deployment_id,
            comment="approved by the demo's senior engineer",
            actor=APPROVER,
            signing_key=signing_key,
            config=config,
        )
        self.reporter.line(
            f"{APPROVER} approves deployment {first.result.deployment_id}, signed with their"
            " SSH key; turnout resume continues it"
        )
        first_result = first.result

        def resume(events: Callable[[StepEvent], None]) -> DeployResult:
            resumed = api.resume(env.name, actor=DEMO_DEPLOYER, config=config, on_event=events)
            return resumed.resumed or first_result

        self._run(env, version, DeploymentStatus.SUCCEEDED, "resumed after approval", resume)

    def _signing_key(self, config: LoadedConfig, who: str) -> tuple[LoadedConfig, Path]:
        """A key made for `who` now, declared in the configuration and committed, as a team
        would review it: production counts only signed approvals."""
        folder = config.state_dir / "demo-keys"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = folder / who
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{who} (demo)", "-f", key],
                check=True,
                capture_output=True,
            )
        public = key.with_name(f"{who}.pub").read_text(encoding="utf-8").strip()
        text = config.path.read_text(encoding="utf-8")
        entry = f'name = "{who}"\n'
        if public not in text:
            text = text.replace(entry, f'{entry}ssh_keys = ["{public}"]\n', 1)
            config.path.write_text(text, encoding="utf-8")
            git = ["git", "-c", "user.name=turnout demo", "-c", "user.email=demo@turnout.invalid"]
            subprocess.run(
                [*git, "commit", "-q", "-am", f"{who}'s approval key"],
                cwd=config.path.parent,
                check=True,
                capture_output=True,
            )
        self.reporter.line(f"{who}'s SSH key is declared in turnout.toml (ssh_keys)")
        return load_config(config.path), key

    # -- one deployment ----------------------------------------------------------------
    def _deploy(
        self,
        config: LoadedConfig,
        env: EnvironmentConfig,
        version: str,
        expected: DeploymentStatus,
        what: str,
    ) -> Chapter:
        def deploy(events: Callable[[StepEvent], None]) -> DeployResult:
            return api.deploy(
                env.name,
                version,
                package=config.resolve_path(f"dist/{version}"),
                changes=what,
                actor=DEMO_DEPLOYER,
                config=config,
                on_event=events,
            )

        return self._run(env, version, expected, what, deploy)

    def _run(
        self,
        env: EnvironmentConfig,
        version: str,
        expected: DeploymentStatus,
        what: str,
        action: Callable[[Callable[[StepEvent], None]], DeployResult],
    ) -> Chapter:
        self.reporter.section(f"{env.name}: {version} — {what}")
        chapter = Chapter(env.name, version, expected)
        with self.reporter.deployment(f"{version} → {env.name}") as progress:
            chapter.started_at = time.time()
            started = time.monotonic()
            chapter.result = action(_Relay(progress))
            chapter.wall_s = time.monotonic() - started
            chapter.finished_at = time.time()
        result = chapter.result
        chapter.step_seconds = dict(result.step_seconds)
        mark = "✓" if result.status is expected else "✗"
        self.reporter.line(
            f"{mark} exit {result.exit_code} ({result.status.value}), expected"
            f" {expected.value}: {result.message}"
        )
        self.chapters.append(chapter)
        return chapter

    # -- the end -----------------------------------------------------------------------
    def _summary(self, config: LoadedConfig) -> None:
        self.reporter.section("History")
        self.reporter.history(api.history(None, limit=20, config=config).deployments)
        self.reporter.section("Success metrics")
        self.reporter.report(api.report(None, days=1, config=config))
        self.reporter.section("Timing (seconds)")
        self.reporter.line(
            f"{'deployment':<24} {'wall':>7} {'app':>7} {'verify':>7} {'target':>7} {'turnout':>8}"
        )
        for c in self.chapters:
            self.reporter.line(
                f"{c.version + ' → ' + c.environment:<24} {c.wall_s:>7.2f}"
                f" {c.app_wait_s:>7.2f} {c.verification_s:>7.2f} {c.target_checks_s:>7.2f}"
                f" {c.own_s:>8.2f}"
            )
        self.reporter.line(
            "app = booting, warming and smoke-testing the app in its slot; verify = judging"
            " it on verification traffic before the swap and live traffic after it; target ="
            " the preflight's checks of the package and the target; turnout = everything else"
            " (gates, journal, announcements, backup, migration, swap, records)"
        )
        for driver in self._drivers:
            self.reporter.line(self._traffic_line(driver))
        self.reporter.section("Result")
        for c in self.chapters:
            self.reporter.line(
                f"{'✓' if c.ok else '✗'} {c.version} → {c.environment}:"
                f" {c.result.status.value if c.result else 'not run'}"
            )
            for name, passed in c.checks:
                self.reporter.line(f"    {'✓' if passed else '✗'} {name}")

    def _traffic_line(self, driver: TrafficDriver) -> str:
        """What the steady traffic saw, each kind of failure named apart: the router's own
        503s while no version was deployed yet, and the app's errors by the deployment
        during which they happened."""
        counts = driver.snapshot()
        parts = [f"{counts.sent:,} requests", f"{counts.ok:,} ok"]
        if counts.router_unavailable:
            parts.append(
                f"{counts.router_unavailable:,} answered 503 by the router before any version"
                " was deployed"
            )
        during = [
            (c, sum(n for sec, n in counts.app_errors_by_second.items() if c.overlaps(sec)))
            for c in self.chapters
            if c.environment == self._driven.get(driver.url)
        ]
        attributed = [(c, n) for c, n in during if n]
        detail = ", ".join(f"{n:,} during {c.version}" for c, n in attributed)
        outside = counts.server_errors - sum(n for _, n in attributed)
        if outside > 0 and attributed:
            detail += f", {outside:,} outside any deployment"
        parts.append(
            f"{counts.server_errors:,} server errors from the app"
            + (f" ({detail})" if detail else "")
        )
        parts.append(f"{counts.no_answer:,} unanswered")
        return f"traffic to {driver.url}: " + ", ".join(parts)

    # -- processes ---------------------------------------------------------------------
    def _host_up(self, config: LoadedConfig, env: EnvironmentConfig) -> None:
        host = api.host_up(env.name, config=config)
        self._hosts.append(env)
        self.reporter.line(
            f"slot host for {env.name} up; router on http://{host.status.get('address', '')}"
        )

    def _traffic(self, env: EnvironmentConfig, rate: float) -> None:
        address = _address(env)
        driver = TrafficDriver(f"http://{address}{TRAFFIC_PATH}", rate=rate)
        driver.start()
        self._drivers.append(driver)
        self._driven[driver.url] = env.name
        self.reporter.line(f"steady traffic: {rate:g} requests/s to http://{address}{TRAFFIC_PATH}")

    def _stop(self) -> None:
        for driver in self._drivers:
            driver.stop()
        if self.keep or self.config is None:
            return
        for env in self._hosts:
            api.host_down(env.name, config=self.config)


class _Relay:
    """Forwards engine events to the reporter's progress display."""

    def __init__(self, progress: Callable[[StepEvent], None]) -> None:
        self._progress = progress

    def __call__(self, event: StepEvent) -> None:
        self._progress(event)


def _address(env: EnvironmentConfig) -> str:
    return str(getattr(env.target, "address", ""))


def _step_output(chapter: Chapter, step: str, key: str) -> Any:
    """A step's recorded output, read from the deployment's journal."""
    if chapter.result is None:
        return None
    for row in chapter.result.deployment.get("steps") or []:
        if row["step"] == step:
            return (row.get("outputs") or {}).get(key)
    return None


def _migrated(chapter: Chapter) -> bool:
    if chapter.result is None:
        return False
    statuses = {row["step"]: row["status"] for row in chapter.result.deployment.get("steps") or []}
    applied = _step_output(chapter, "migrate", "applied")
    return statuses.get("verify-db") == "succeeded" and bool(applied)
