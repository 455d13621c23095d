"""Backups as turnout records them: written, verified, recorded, kept within retention."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from turnout.azure_sql_record import AzureSqlBackup
from turnout.database.checksums import file_sha256
from turnout.database.driver import BackupFile, DatabaseError, Driver
from turnout.database.leftovers import partial_path, remove_side_files
from turnout.errors import Refused
from turnout.store.records import BackupRecord, BackupStatus

if TYPE_CHECKING:
    from turnout.store import Store

LIVE_STATUSES = frozenset({BackupStatus.VERIFIED, BackupStatus.RESTORED})
AZURE_SQL_KEY = "azure_sql"
"""Details key of an Azure SQL backup's record (`AzureSqlBackup`): the platform keeps it,
not a file."""


def backup_in_place(row: BackupRecord) -> bool:
    """Whether what the record names is there: the file, or an Azure SQL backup's record."""
    if row.engine == "mssql":
        return isinstance(row.details.get(AZURE_SQL_KEY), dict)
    return Path(row.location).is_file()


def backup_file_name(
    environment: str, now: datetime, deployment_id: int | None, suffix: str
) -> str:
    """`production-20240101T101500Z-d12.dump`: sortable, says which deployment it belongs to."""
    tag = f"-d{deployment_id}" if deployment_id is not None else "-manual"
    return f"{environment}-{now:%Y%m%dT%H%M%S%fZ}{tag}{suffix}"


def write_verified_backup(driver: Driver, dest: Path) -> tuple[BackupFile, dict[str, float]]:
    """Back up to `dest` and verify it opens with the source's row counts; else delete it.

    The seconds returned: `backup` until the file was written (for a driver that reads
    the backup back as it writes it, that includes hashing and counting), `verify` and
    `verify_and_sha256` what verification took after that.
    """
    partial = partial_path(dest)
    partial.unlink(missing_ok=True)
    written = driver.backup(partial)
    try:
        started = time.perf_counter()
        if written.archive_counts is not None and written.sha256:
            found = written.archive_counts
            sha256 = written.sha256
            driver.check_opens(partial)
            verify_seconds = hash_seconds = time.perf_counter() - started
        else:
            # Hashing and verifying both read the whole file: do them side by side.
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(file_sha256, partial)
                found = driver.backup_row_counts(partial)
                verify_seconds = time.perf_counter() - started
                sha256 = digest.result()
            hash_seconds = time.perf_counter() - started
        if found != written.row_counts:
            raise DatabaseError(
                f"backup {dest} does not match the source: row counts"
                f" {_diff(written.row_counts, found)}",
                details={"source": written.row_counts, "backup": found},
            )
        # Verification opened the copy read-only: SQLite may have left -wal/-shm beside it.
        remove_side_files(partial)
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        remove_side_files(partial)
        raise
    final = BackupFile(dest, written.size, sha256, written.row_counts, written.seconds)
    return final, {
        "backup": written.seconds,
        "verify": verify_seconds,
        "verify_and_sha256": hash_seconds,
    }


def _diff(expected: dict[str, int], found: dict[str, int]) -> str:
    parts = [
        f"{name}: source {expected.get(name)}, backup {found.get(name)}"
        for name in sorted(set(expected) | set(found))
        if expected.get(name) != found.get(name)
    ]
    return "; ".join(parts[:10])


def enforce_retention(store: Store, environment: str, keep: int) -> list[int]:
    """Delete the files of verified backups beyond the newest `keep`; returns their ids.
    Azure SQL backups are the platform's (restore points age out by its retention policy;
    copies and bacpac blobs are kept for their owner to delete)."""
    live = [
        row
        for row in store.backups(environment)
        if row.status in LIVE_STATUSES and row.engine != "mssql"
    ]
    live.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    removed: list[int] = []
    for row in live[keep:]:
        with contextlib.suppress(FileNotFoundError):
            Path(row.location).unlink()
        store.update_backup(row.id, status="deleted")
        removed.append(row.id)
    return removed


def usable_backup_file(row: BackupRecord) -> Path:
    """The backup's file if the record is live and the file exists; else Refused."""
    path = Path(row.location)
    if row.status == "deleted":
        raise Refused(f"backup {row.id} was deleted by retention ({path})")
    if not path.is_file():
        raise Refused(f"backup {row.id}: file {path} is missing")
    return path


def backup_summary(record: BackupRecord) -> str:
    """What the backup is, in one phrase: the file, or Azure SQL's restore point and extras."""
    azure = record.details.get(AZURE_SQL_KEY)
    if not isinstance(azure, dict):
        return (
            f"backup {record.id} verified ({record.size} bytes,"
            f" {len(record.details.get('row_counts', {}))} tables)"
        )
    taken = AzureSqlBackup.model_validate(azure)
    text = (
        f"backup {record.id}: restore point {taken.point.at.isoformat(timespec='seconds')}"
        f" within point-in-time restore ({taken.point.retention_days} days)"
    )
    if taken.database_copy is not None:
        text += f", copy {taken.database_copy.name} Online"
    if taken.bacpac is not None:
        text += f", bacpac {taken.bacpac.blob_url} ({taken.bacpac.size} bytes)"
    return text
