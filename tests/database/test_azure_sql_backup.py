"""Azure SQL backups before migrating: the restore point and its window, a database copy,
the bacpac export to a real Azurite, through the official SDK against the fake Azure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobClient

from tests.database.azure_sql_setup import BEFORE, DB, SqlProject, kill_when
from tests.support.azurite import ACCOUNT, Azurite
from turnout.azure_sql_record import AzureSqlBackup
from turnout.config import load_config
from turnout.config.policy import ChecklistItemConfig
from turnout.database.driver import DatabaseError
from turnout.errors import ConfigError
from turnout.model import DeploymentType, PlannedDeployment
from turnout.policy.checklist import CheckInput, _rollback_plan
from turnout.policy.flags import DeploymentFlags
from turnout.runbook.outputs import BackupOutputs
from turnout.runbook.steps.database import _backup_outputs


def _taken(record_details: dict[str, object]) -> AzureSqlBackup:
    return AzureSqlBackup.model_validate(record_details["azure_sql"])


def test_pitr_records_the_restore_point_inside_the_restore_window(project: SqlProject) -> None:
    """The default backup records the restore point, the earliest restore date and the
    retention days read from Azure, and changes nothing on the server."""
    project.configure()
    before = datetime.now(UTC)
    record = project.service().backup(7, reason="before migrating", applied=["001"])
    taken = _taken(record.details)
    assert taken.mode == "pitr"
    assert before <= taken.point.at <= datetime.now(UTC)
    database = project.sql.databases[DB]
    assert taken.point.earliest_restore_date == database.earliest_restore
    assert taken.point.retention_days == 7
    assert taken.point.restorable_until == taken.point.at + timedelta(days=7)
    assert taken.point.database.database_id == database.database_id
    assert record.location == taken.location
    assert record.location.startswith(project.sql.database_id(DB) + "@")
    assert project.sql_requests("PUT") == [] and project.sql_requests("POST") == []
    outputs = BackupOutputs.from_journal(_backup_outputs(record, summary="s").journal())
    assert outputs is not None and outputs.azure_sql is not None
    assert outputs.azure_sql.point.at == taken.point.at
    assert project.service().deployment_backup(7) is not None


def test_a_database_without_a_restore_point_yet_is_refused(project: SqlProject) -> None:
    """A database whose first backup has not run (no earliestRestoreDate) cannot be
    migrated under pitr: the backup fails and nothing is recorded."""
    project.sql.add_database(DB, BEFORE, age=timedelta(0))
    project.configure()
    with pytest.raises(DatabaseError, match="no point-in-time restore point yet"):
        project.service().backup(7, reason="before migrating", applied=[])
    assert project.store.backups("production") == []


def test_copy_is_followed_until_online_and_recorded(project: SqlProject) -> None:
    """backup = "copy" creates a Copy of the database named after the deployment and
    records it once Azure reports it Online, with the same content as the source."""
    project.configure(backup="copy")
    record = project.service().backup(12, reason="before migrating", applied=[])
    taken = _taken(record.details)
    assert taken.database_copy is not None
    assert taken.database_copy.name == f"{DB}-copy-d12"
    assert taken.database_copy.status == "Online"
    assert project.sql.creates == [(f"{DB}-copy-d12", "Copy")]
    assert project.sql.content_of(f"{DB}-copy-d12") == BEFORE
    assert record.location == project.sql.database_id(f"{DB}-copy-d12")


def test_a_database_sql_cannot_reach_fails_before_the_copy(project: SqlProject) -> None:
    """The backup asks the database what is applied before it asks Azure for a copy, so an
    unreachable SQL endpoint fails the backup with nothing created."""
    project.configure(host="127.0.0.1:1", server="tesoro-production-sql", backup="copy")
    with pytest.raises(DatabaseError, match="cannot connect"):
        project.service().backup(13, reason="before migrating")
    assert project.sql.creates == [] and project.store.backups("production") == []


def test_a_killed_copy_is_followed_by_name_when_resumed(project: SqlProject) -> None:
    """A run killed while Azure copies the database leaves the copy running; the next run
    of the same deployment follows that copy instead of starting a second one."""
    project.configure(backup="copy")
    project.sql.gate.clear()
    child = project.run_service(".backup(21, reason='x', applied=[])")
    kill_when(child, lambda: project.sql.creates, "the copy to be asked for")
    assert project.store.backups("production") == []
    project.sql.gate.set()
    record = project.service().backup(21, reason="resumed", applied=[])
    assert project.sql.creates == [(f"{DB}-copy-d21", "Copy")]
    taken = _taken(record.details)
    assert taken.database_copy is not None and taken.database_copy.status == "Online"


def _blob(azurite: Azurite, url: str) -> BlobClient:
    return BlobClient.from_blob_url(url, credential=AzureNamedKeyCredential(ACCOUNT, azurite.key))


def _bacpac(project: SqlProject, azurite: Azurite) -> None:
    project.configure(
        backup="bacpac",
        storage_account_url=azurite.account_url,
        container="backups",
        storage_key="env:TESORO_STORAGE_KEY",
    )


def test_bacpac_export_is_read_back_from_real_blob_storage(
    project: SqlProject, azurite: Azurite
) -> None:
    """backup = "bacpac" exports to the storage account, follows the export to its end and
    records the blob's size and properties as Azurite reports them; no key is recorded."""
    _bacpac(project, azurite)
    record = project.service().backup(31, reason="before migrating", applied=[])
    taken = _taken(record.details)
    assert taken.bacpac is not None
    url = f"{azurite.account_url}/backups/{DB}-d31.bacpac"
    assert taken.bacpac.blob_url == url == record.location
    props = _blob(azurite, url).get_blob_properties()
    assert taken.bacpac.size == props.size == record.size > 0
    assert taken.bacpac.etag == str(props.etag).strip('"')
    exported = [r for r in project.world.server.requests if r.path.endswith("/export")]
    assert len(exported) == 1
    assert exported[0].json()["storageKeyType"] == "StorageAccessKey"
    assert exported[0].json()["administratorLogin"] == "sqladmin"
    assert taken.point.retention_days == 7
    saved = json.dumps(record.details)
    assert azurite.key not in saved and "s3cret-Sql-pw" not in saved


def test_a_failed_export_fails_the_backup_with_azures_reason(
    project: SqlProject, azurite: Azurite
) -> None:
    """An export the platform fails is a backup failure naming Azure's reason, and no
    backup is recorded, so nothing migrates."""
    _bacpac(project, azurite)
    project.sql.fail_export = "There is not enough space on the disk."
    with pytest.raises(DatabaseError, match="not enough space on the disk"):
        project.service().backup(32, reason="before migrating", applied=[])
    assert project.store.backups("production") == []


def test_bacpac_without_a_password_is_refused_before_any_request(
    project: SqlProject, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bacpac export whose password reference is unset is a configuration error naming
    the file and key, raised before turnout asks Azure anything."""
    _bacpac(project, azurite)
    monkeypatch.delenv("TESORO_SQL_PASSWORD")
    with pytest.raises(ConfigError) as raised:
        project.service().backup(33, reason="before migrating", applied=[])
    assert "environments.production.database.password" in str(raised.value)
    assert str(project.config_path) in str(raised.value)
    assert project.sql_requests() == []


def test_the_checklists_rollback_plan_names_the_azure_sql_backup(project: SqlProject) -> None:
    """The rollback-plan item says the database's way back is Azure SQL's restore point
    (and the configured mode), not a backup folder of this machine."""
    project.configure(backup="copy")
    config = load_config(project.config_path)
    planned = PlannedDeployment(
        environment="production",
        version="1.4.0",
        type=DeploymentType.APP,
        deployer="ana",
        created_at=datetime.now(UTC),
        previous_version="1.3.0",
    )
    inp = CheckInput(
        config=config,
        env=config.env("production"),
        store=project.store,
        deployment=planned,
        flags=DeploymentFlags(deployer="ana"),
        at=datetime.now(UTC),
        window=None,
    )
    kind, summary, evidence = _rollback_plan(inp, "rollback_plan", ChecklistItemConfig())
    assert kind == "pass"
    assert "Azure SQL restore point (copy)" in summary
    assert "backups" not in str(evidence["database"])
