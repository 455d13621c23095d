"""Files a killed backup leaves behind, named so the next run can tell they are orphans.

A backup is written as `NAME.PID.partial` next to its final name, and the PostgreSQL
client programs get their password file in a private folder `turnout-pg-PID-*` of the
temporary directory. A process killed with SIGKILL cannot delete them; the PID in the
name lets the next database operation of this user (a `resume`, the next deployment, a
`turnout db` command) remove exactly those whose process is gone, never another live
run's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from turnout.processes import pid_alive

PG_CLIENT_PREFIX = "turnout-pg-"
RESTORE_PREFIX = "turnout-restore-"
_TEMP_FOLDER = re.compile(rf"^(?:{PG_CLIENT_PREFIX}|{RESTORE_PREFIX})(\d+)-")
_PARTIAL = re.compile(r"\.(\d+)\.partial(?:-wal|-shm|-journal)?$")
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps next to a database file."""


def partial_path(dest: Path) -> Path:
    """Where this process writes a backup before it is verified and renamed to `dest`."""
    return dest.with_name(f"{dest.name}.{os.getpid()}.partial")


def private_folder(prefix: str) -> Path:
    """A new 0700 folder in the temporary directory, named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_side_files(path: Path) -> None:
    """SQLite's -wal/-shm/-journal files of a database file nobody has open any more."""
    for suffix in SIDE_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def remove_leftovers(backup_dir: Path | None) -> list[Path]:
    """Delete what killed runs of this user left: password folders and partial backups."""
    removed: list[Path] = []
    temp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for folder in temp.iterdir():
            match = _TEMP_FOLDER.match(folder.name)
            if match and _orphan(folder, int(match.group(1))):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    if backup_dir is not None and backup_dir.is_dir():
        for file in backup_dir.iterdir():
            match = _PARTIAL.search(file.name)
            if match and _orphan(file, int(match.group(1))):
                file.unlink(missing_ok=True)
                removed.append(file)
    return removed


def _orphan(path: Path, pid: int) -> bool:
    try:
        mine = path.lstat().st_uid == os.getuid()
    except OSError:
        return False
    return mine and pid != os.getpid() and not pid_alive(pid)
