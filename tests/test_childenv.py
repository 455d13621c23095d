"""Every process turnout starts for others gets a scrubbed environment; its files are private."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

import pytest

from tests.runbook.steps.test_snapshot_verify import context, swap
from tests.support.local_fixtures import running_host
from tests.support.policy_project import BEST_TIME, make_project
from turnout.clock import FrozenClock
from turnout.config.secrets import SecretRef
from turnout.database.location import DatabaseLocation
from turnout.database.postgresql import PostgresDriver
from turnout.model import DeploymentInfo, DeploymentType, Release
from turnout.policy import DeploymentFlags
from turnout.policy.checklist import evaluate_checklist
from turnout.policy.windows import decide_window, evaluate_window
from turnout.runbook.steps.verify import VerifyStep
from turnout.store import Store
from turnout.targets.fake import FakeTarget

PLANTED = "planted-token-0c9e"


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployer's environment holds integration tokens and the state store's URL."""
    monkeypatch.setenv("GITHUB_TOKEN", PLANTED)
    monkeypatch.setenv("PAGERDUTY_TOKEN", PLANTED)
    monkeypatch.setenv("CI_JOB_ID", "4711")


def _plant_state_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only once the test's own store is open: that store would try to use it.
    monkeypatch.setenv("TURNOUT_STATE_URL", f"postgresql+psycopg://u:{PLANTED}@db/state")


def _dumped(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def _dump_env(path: Path) -> str:
    """A command writing its environment to `path`, one NAME=value a line."""
    script = path.with_suffix(".py")
    script.write_text(
        "import os, sys\n"
        "with open(sys.argv[1], 'w') as out:\n"
        "    out.writelines(f'{k}={v}\\n' for k, v in os.environ.items())\n"
        "    out.write(f'STDOUT_MODE={os.fstat(1).st_mode & 0o777:o}\\n')\n"
    )
    return f"{sys.executable} {script} {path}"


@pytest.mark.usefixtures("planted")
def test_checklist_command_gets_no_deployer_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checklist command sees the allow-list, its pass_env names and TURNOUT_*, no tokens."""
    dump = tmp_path / "ci-env.txt"
    project = make_project(
        tmp_path / "shop",
        replace={
            'ci_passing = { command = "test -f ci-green" }': (
                f'ci_passing = {{ command = "{_dump_env(dump)}", pass_env = ["CI_JOB_ID"] }}'
            )
        },
    )
    _plant_state_url(monkeypatch)
    try:
        env = project.config.env("production")
        info = DeploymentInfo(
            id=1,
            environment="production",
            version="1.1.0",
            type=DeploymentType.APP,
            deployer="dana",
            created_at=BEST_TIME,
            package=project.root / "packages" / "1.1.0",
            previous_version="1.0.0",
        )
        flags = DeploymentFlags(deployer="dana")
        decision = decide_window(
            env, evaluate_window(project.config, env, project.store, BEST_TIME), flags
        )
        evaluate_checklist(project.config, env, project.store, info, flags, BEST_TIME, decision)
    finally:
        project.store.close()
    seen = _dumped(dump)
    assert not [k for k, v in seen.items() if PLANTED in v]
    assert seen["CI_JOB_ID"] == "4711" and seen["TURNOUT_VERSION"] == "1.1.0"
    assert "TURNOUT_STATE_URL" not in seen and "PATH" in seen


@pytest.mark.usefixtures("planted")
def test_e2e_command_gets_no_deployer_tokens_and_its_logs_are_private_and_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The E2E command sees TURNOUT_URL, not tokens; its log is 0600; leftovers are pruned."""
    store = Store.open(tmp_path / "state", clock=FrozenClock())
    _plant_state_url(monkeypatch)
    try:
        target = FakeTarget("web")
        target.ensure_slot("blue")
        dump = tmp_path / "e2e-env.txt"
        ctx = context(tmp_path, store, FrozenClock(), target)
        ctx.env = ctx.env.model_copy(
            update={
                "checks": ctx.env.checks.model_copy(
                    update={"e2e_command": _dump_env(dump), "e2e_pass_env": ["CI_JOB_ID"]}
                )
            }
        )
        logs = ctx.config.state_dir / "e2e"
        logs.mkdir(parents=True)
        for n in range(30):  # left by runs that were killed, oldest first
            (logs / f"e2e-old{n:02d}.log").write_text("old run\n")
            os.utime(logs / f"e2e-old{n:02d}.log", (1_000_000 + n, 1_000_000 + n))
        swap(ctx, target, "1.1")
        VerifyStep().run(ctx)
    finally:
        store.close()
    seen = _dumped(dump)
    assert not [k for k, v in seen.items() if PLANTED in v]
    assert seen["TURNOUT_URL"] == "http://web.fake.invalid" and seen["CI_JOB_ID"] == "4711"
    assert seen["STDOUT_MODE"] == "600"  # its output file is private while it runs
    # 19 leftovers and this run's log (removed once its tail is in the outputs) made 20.
    kept = sorted(p.name for p in logs.glob("e2e-*.log"))
    assert kept == [f"e2e-old{n:02d}.log" for n in range(11, 30)]
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700


@pytest.mark.usefixtures("planted")
def test_database_tools_get_no_deployer_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump, pg_restore and psql run with connection settings and a passfile, no tokens."""
    _plant_state_url(monkeypatch)
    monkeypatch.setenv("APP_DB_PASSWORD", "db-secret-77")
    monkeypatch.setenv("PGSSLMODE", "require")
    location = DatabaseLocation(
        engine="postgresql",
        host="db.internal",
        user="app",
        dbname="shop",
        password_ref=SecretRef("env:APP_DB_PASSWORD"),
    )
    with PostgresDriver(location).client_environment() as env:
        assert not [k for k, v in env.items() if PLANTED in v]
        assert "db-secret-77" not in env.values()
        assert env["PGHOST"] == "db.internal" and env["PGSSLMODE"] == "require"
        assert "db-secret-77" in Path(env["PGPASSFILE"]).read_text()


def test_state_and_host_files_are_owner_only(tmp_path: Path) -> None:
    """state.db, the host's log and pid file and slot logs are created mode 0600."""
    store = Store.open(tmp_path / ".turnout", clock=FrozenClock())
    store.close()
    assert stat.S_IMODE((tmp_path / ".turnout" / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".turnout").stat().st_mode) == 0o700
    with contextlib.contextmanager(running_host)(tmp_path / "app") as host:
        host.target.ensure_slot("blue")
        host.target.deploy("blue", Release("1.0.0", host.package("1.0.0")))
        paths = host.target.paths
        for private in (paths.host_log, paths.pid_file, paths.log_for("1.0.0")):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert os.environ.get("TURNOUT_STATE_URL") is None


def test_key_vault_setting_is_passed_under_its_reference() -> None:
    """A keyvault:// setting is looked up by its reference; a missing one names it, no value."""
    from turnout.childenv import referenced_secrets, resolve_settings

    ref = "keyvault://tesoro-kv/db-password"
    settings: dict[str, SecretRef | str] = {
        "DB_PASSWORD": SecretRef(ref),
        "PLAIN": "x",
        "TOKEN": SecretRef("env:TOKEN"),
    }
    assert referenced_secrets(settings) == {ref, "TOKEN"}
    resolved = resolve_settings(settings, {ref: PLANTED, "TOKEN": "t"}, "target.settings")
    assert resolved == {"DB_PASSWORD": PLANTED, "PLAIN": "x", "TOKEN": "t"}
    with pytest.raises(Exception, match=f"target.settings.DB_PASSWORD: secret reference {ref}"):
        resolve_settings(settings, {"TOKEN": "t"}, "target.settings")
