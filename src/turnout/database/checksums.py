"""sha256 of backup files, and the refusal when a file no longer matches its record."""

from __future__ import annotations

import hashlib
from pathlib import Path

from turnout.errors import Refused


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in large chunks."""
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_checksum(path: Path, recorded: str, actual: str | None = None) -> None:
    """Refused (nothing restored) when the file's sha256 is not the recorded one."""
    actual = actual if actual is not None else file_sha256(path)
    if actual != recorded:
        raise Refused(
            f"{path}: backup checksum mismatch (recorded {recorded[:16]}...,"
            f" file {actual[:16]}...); the file changed since it was verified; not restoring",
            details={"recorded": recorded, "actual": actual},
        )
