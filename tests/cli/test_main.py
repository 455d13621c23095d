"""The command line's contract: usage errors, init, exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout.cli.main import _crash_log, main
from turnout.config import load_config
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.records import NewDeployment


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command or option is bad input (exit 2), not an internal error."""
    assert main(["no-such-command"]) == 2
    assert main(["check", "--no-such-option"]) == 2
    assert "internal error" not in capsys.readouterr().err


def test_init_writes_a_valid_starter(tmp_path: Path) -> None:
    """`turnout init` writes a starter that validates, and refuses to overwrite it."""
    assert main(["init", str(tmp_path)]) == 0
    config = load_config(tmp_path / "turnout.toml")
    assert set(config.environments) == {"staging", "production"}
    assert main(["init", str(tmp_path)]) == 2
    assert main(["init", str(tmp_path), "--force"]) == 0


def test_init_example_writes_the_sample_app(tmp_path: Path) -> None:
    """`turnout init --example tesoro` writes the sample app with built release packages."""
    target = tmp_path / "tesoro"
    assert main(["init", str(target), "--example", "tesoro"]) == 0
    assert load_config(target / "turnout.toml").root.app.name == "tesoro"
    assert (target / "dist" / "1.1.0" / "migrations" / "V001__add_rewards_table.sql").is_file()
    assert main(["init", str(tmp_path / "other"), "--example", "nope"]) == 2
    assert not (tmp_path / "other").exists()


def test_resume_after_a_hold_says_what_to_do_instead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`resume` on a deployment held for a person exits 5 and names the way out."""
    project = fake_project(tmp_path / "p")
    with Store.open(load_config(project.config).state_dir) as store:
        store.acquire_lock(project.env, None, "alice@host")
        row = store.start_deployment(
            "alice@host",
            NewDeployment(
                environment=project.env,
                version="1.1.0",
                type=DeploymentType.APP,
                status=DeploymentStatus.RUNNING,
                deployer="alice",
                plan=("verify",),
                started_at=store.now(),
            ),
        )
        store.update_deployment(
            row.id, status="needs-person", exit_code=5, message="verify: [no decision] in 600 s"
        )
        store.release_lock(project.env)
    assert main(["resume", "--env", project.env, "--config", str(project.config)]) == 5
    err = " ".join(capsys.readouterr().err.split())
    assert f"deployment {row.id} of 1.1.0 needs a person (verify: [no decision] in 600 s)" in err
    assert f"turnout rollback --env {project.env}" in err


def test_error_messages_keep_square_brackets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message holding `[...]` (a key, a path, SQL) is printed whole, not read as markup."""
    config = tmp_path / "turnout.toml"
    config.write_text('[app]\nname = "x"\n"odd[key]" = 1\n')
    assert main(["check", "--config", str(config)]) == 2
    assert "odd[key]" in capsys.readouterr().err


def test_crash_logs_go_to_a_private_folder_per_user() -> None:
    """An internal error's traceback is written to a 0700 folder of the user's own."""
    try:
        raise RuntimeError("boom [detail]")
    except RuntimeError as exc:
        log = _crash_log(exc)
    try:
        assert log.parent.name == f"turnout-crashes-{os.getuid()}"
        assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
        assert "RuntimeError: boom [detail]" in log.read_text()
    finally:
        log.unlink()


def test_commands_that_only_read_create_no_state(tmp_path: Path) -> None:
    """plan, status, history, window and report on a new project leave no state store behind."""
    project = fake_project(tmp_path / "p")
    config = ["--config", str(project.config)]
    env = ["--env", project.env]
    assert main(["plan", *env, "--version", "1.1.0", *config]) == 0
    assert main(["status", *env, *config]) == 0
    assert main(["history", *config]) == 0
    assert main(["window", *env, *config]) == 0
    assert main(["report", *config]) == 0
    assert main(["postmortem", "list", *config]) == 0
    assert not (project.root / ".turnout").exists()
    assert main(["deploy", *env, "--version", "1.1.0", "--yes", *config]) == 0
    assert (project.root / ".turnout" / "state.db").is_file()
