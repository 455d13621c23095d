"""Azure SQL restores: to a new database (point in time, copy, bacpac import), verified
through the management plane, swapped in by rename, each stage journaled so a killed
run is finished by the next; through the official SDK against the fake Azure."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from tests.database.azure_sql_setup import BEFORE, DB, SqlProject, kill_when
from tests.support.azurite import Azurite
from tests.support.in_process import turnout_in_process
from tests.support.waiting import wait_until
from turnout.azure_sql_record import RestoreStage
from turnout.clock import SystemClock
from turnout.config import load_config
from turnout.database.azure_sql_restore import restores_of
from turnout.database.driver import DatabaseError
from turnout.model import DeploymentInfo, DeploymentType
from turnout.runbook.outputs import BackupOutputs, MigrateUndoOutputs
from turnout.runbook.step import StepContext
from turnout.runbook.steps.database import MigrateStep
from turnout.store.records import AuditAction

AFTER = {"Customers": 3, "Rewards": 0, "schema": ["Customers", "Rewards"]}
"""What the database holds once a migration ran."""


def _backup_then_migrate(project: SqlProject, deployment: int = 5) -> int:
    record = project.service().backup(deployment, reason="before migrating", applied=[])
    project.sql.write(DB, AFTER)
    return record.id


def _stages(project: SqlProject, backup_id: int) -> list[str]:
    row = project.store.backup(backup_id)
    assert row is not None
    return [event.stage.value for event in restores_of(row)[-1].events]


def test_point_in_time_restore_swaps_in_the_database_as_it_was(project: SqlProject) -> None:
    """A pitr backup restores to a new database at the recorded point, verified Online
    from the original, renamed into the original's name; the migrated one is kept aside;
    every stage is journaled and the restore audited."""
    project.configure()
    backup_id = _backup_then_migrate(project)
    result = project.service().restore(backup_id, reason="migration failed", deployment_id=5)
    restore = result.azure_sql
    assert restore is not None and restore.stage == RestoreStage.SWAPPED
    assert project.sql.content_of(DB) == BEFORE
    assert project.sql.content_of(restore.replaced_name) == AFTER
    assert project.sql.creates == [(restore.restored_name, "PointInTimeRestore")]
    assert project.sql.moves == [
        (DB, restore.replaced_name),
        (restore.restored_name, DB),
    ]
    assert restore.verification is not None and restore.verification.ok
    assert restore.verification.source_matches is True
    assert _stages(project, backup_id) == [
        "planned",
        "creating",
        "online",
        "verified",
        "original-moved",
        "swapped",
    ]
    audit = [e for e in project.store.audit_log() if e.action == AuditAction.DB_RESTORE]
    assert audit and audit[-1].details["backup_id"] == backup_id


def test_copy_backup_restores_from_the_copy_and_keeps_it(project: SqlProject) -> None:
    """A copy backup restores by copying the pre-migration copy, so the copy itself stays
    for another restore."""
    project.configure(backup="copy")
    backup_id = _backup_then_migrate(project, 6)
    result = project.service().restore(backup_id, reason="migration failed")
    restore = result.azure_sql
    assert restore is not None and restore.source == "copy"
    assert project.sql.content_of(DB) == BEFORE
    assert project.sql.creates[-1] == (restore.restored_name, "Copy")
    assert project.sql.content_of(f"{DB}-copy-d6") == BEFORE


def test_bacpac_restore_imports_the_archive_from_blob_storage(
    project: SqlProject, azurite: Azurite
) -> None:
    """--from bacpac imports the exported archive (read from the real Azurite) into a new
    database and swaps it in."""
    project.configure(
        backup="bacpac",
        storage_account_url=azurite.account_url,
        storage_key="env:TESORO_STORAGE_KEY",
    )
    backup_id = _backup_then_migrate(project, 8)
    result = project.service().restore(backup_id, reason="by hand", source="bacpac")
    restore = result.azure_sql
    assert restore is not None
    assert project.sql.creates == [(restore.restored_name, "Import")]
    assert project.sql.content_of(DB) == BEFORE


def test_a_restore_azure_fails_leaves_the_original_untouched(project: SqlProject) -> None:
    """When Azure fails the new database, nothing is renamed, the failure is journaled,
    and a later restore starts afresh under new names."""
    project.configure()
    backup_id = _backup_then_migrate(project)
    project.sql.fail_create[f"{DB}-restored-b{backup_id}r1"] = "Operation timed out."
    with pytest.raises(DatabaseError, match="Operation timed out"):
        project.service().restore(backup_id, reason="migration failed")
    assert project.sql.moves == [] and project.sql.content_of(DB) == AFTER
    assert _stages(project, backup_id)[-1] == "failed"
    again = project.service().restore(backup_id, reason="again").azure_sql
    assert again is not None and again.number == 2 and project.sql.content_of(DB) == BEFORE


def test_a_swap_that_fails_halfway_moves_the_original_back(project: SqlProject) -> None:
    """When the restored database cannot take the original's name after the original was
    renamed aside, the original is renamed back and the restore journaled as undone."""
    project.configure()
    backup_id = _backup_then_migrate(project)
    restored = f"{DB}-restored-b{backup_id}r1"
    project.sql.fail_move[restored] = "The database is in use by another operation."
    with pytest.raises(DatabaseError, match="in use by another operation"):
        project.service().restore(backup_id, reason="migration failed")
    assert project.sql.content_of(DB) == AFTER
    assert project.sql.moves == [
        (DB, f"{DB}-replaced-b{backup_id}r1"),
        (f"{DB}-replaced-b{backup_id}r1", DB),
    ]
    assert _stages(project, backup_id)[-2:] == ["original-moved", "undone"]


def test_a_restore_killed_twice_is_finished_by_db_restore(project: SqlProject) -> None:
    """`turnout db restore` killed while Azure makes the new database, then killed again
    while renaming, is finished by running it once more: one new database, one swap."""
    project.configure()
    backup_id = _backup_then_migrate(project)
    argv = ["db", "restore", str(backup_id), "--env", "production", "--yes", "--config"]
    code = (
        "import sys\nfrom turnout.cli.main import main\n"
        f"sys.exit(main({json.dumps([*argv, str(project.config_path)])}))\n"
    )
    project.sql.gate.clear()
    child = project.run_python(code)
    kill_when(child, lambda: project.sql.creates, "the restore")
    project.sql.gate.set()

    renaming, release = threading.Event(), threading.Event()

    def hold(name: str, new_name: str) -> None:
        renaming.set()
        release.wait(30)

    project.sql.on_move = hold
    child = project.run_python(code)
    kill_when(child, lambda: renaming.is_set(), "the first rename")
    project.sql.on_move = None
    release.set()  # Azure carries out the rename it was asked for, though the caller died

    wait_until(lambda: project.sql.moves, what="the rename to be applied")
    done = turnout_in_process([*argv, str(project.config_path), "--json"], cwd=project.root, env={})
    assert done.returncode == 0, done.stderr
    restore = json.loads(done.stdout)["azure_sql"]
    assert restore["stage"] == "swapped"
    assert project.sql.creates == [(restore["restored_name"], "PointInTimeRestore")]
    assert project.sql.moves == [(DB, restore["replaced_name"]), (restore["restored_name"], DB)]
    assert project.sql.content_of(DB) == BEFORE


def test_the_migrate_steps_undo_finishes_a_restore_a_killed_run_left(
    project: SqlProject,
) -> None:
    """Compensating a deployment whose restore was killed while Azure made the new
    database finishes that restore (following the same database) before anything else."""
    project.configure()
    backup_id = _backup_then_migrate(project, 9)
    project.sql.gate.clear()
    child = project.run_service(
        f".restore({backup_id}, reason='migration failed', deployment_id=9)"
    )
    kill_when(child, lambda: project.sql.creates, "the restore")
    project.sql.gate.set()
    config = load_config(project.config_path)
    ctx = StepContext(
        config=config,
        env=config.env("production"),
        deployment=DeploymentInfo(
            id=9,
            environment="production",
            version="1.4.0",
            type=DeploymentType.APP,
            deployer="ana",
            created_at=datetime.now(UTC),
        ),
        store=project.store,
        clock=SystemClock(),
    )
    ctx.outputs["backup"] = BackupOutputs(backup_id=backup_id).journal()
    undone = MigrateUndoOutputs.model_validate(MigrateStep().undo(ctx))
    assert undone.restored and undone.azure_sql is not None
    assert undone.azure_sql.stage == RestoreStage.SWAPPED and undone.azure_sql.deployment_id == 9
    assert len(project.sql.creates) == 1
    assert project.sql.content_of(DB) == BEFORE


def test_db_restore_without_confirmation_or_with_a_missing_source_changes_nothing(
    project: SqlProject,
) -> None:
    """Without --yes and no terminal the restore is refused (exit 3); --from copy of a
    backup that has no copy is bad input (exit 2); neither asks Azure to change anything."""
    project.configure()
    backup_id = _backup_then_migrate(project)
    base = ["db", "restore", str(backup_id), "--env", "production", "--config"]
    refused = turnout_in_process([*base, str(project.config_path)], cwd=project.root, env={})
    assert refused.returncode == 3, refused.stderr
    assert "--yes" in refused.stderr
    bad = turnout_in_process(
        [*base, str(project.config_path), "--yes", "--from", "copy"], cwd=project.root, env={}
    )
    assert bad.returncode == 2, bad.stderr
    assert "no database copy" in bad.stderr and "Traceback" not in bad.stderr
    assert project.sql.creates == [] and project.sql.moves == []
