"""The slot table: which version is in which slot, persisted atomically.

It is the host's memory across restarts: a host started again brings back the
same versions in the same slots, so the router serves the same production
version. Process ids are kept only to clean up after a host that was killed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from turnout.targets.protocol import PRODUCTION

FORMAT = 1


@dataclass
class SlotRecord:
    """One slot's durable state."""

    version: str | None = None
    release_dir: str | None = None
    port: int | None = None
    pid: int | None = None
    pid_started: int | None = None
    """Start time of `pid` (clock ticks since boot), to tell a reused pid from ours."""
    sticky: str = ""
    """Digest of the slot-sticky settings the process was started with."""
    launch: str = ""
    """Digest of the command and settings the process was started with."""
    build: str | None = None
    """Which build of the version: the package digest's first 12 hex digits."""
    venv: str | None = None
    """The Python virtual environment inside the release directory (relative), if any."""
    deployed_at: float | None = None


@dataclass
class SlotTable:
    """All slots of one environment, plus the swap counter."""

    slots: dict[str, SlotRecord] = field(default_factory=lambda: {PRODUCTION: SlotRecord()})
    swaps: int = 0
    last_swap: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "format": FORMAT,
            "slots": {name: asdict(record) for name, record in self.slots.items()},
            "swaps": self.swaps,
            "last_swap": self.last_swap,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlotTable:
        """Inverse of to_dict."""
        known = set(SlotRecord.__dataclass_fields__)
        slots = {
            str(name): SlotRecord(**{k: v for k, v in record.items() if k in known})
            for name, record in data.get("slots", {}).items()
        }
        slots.setdefault(PRODUCTION, SlotRecord())
        return cls(slots=slots, swaps=int(data.get("swaps", 0)), last_swap=data.get("last_swap"))


def load_table(path: Path) -> SlotTable:
    """The saved table, or a fresh one (production only) when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SlotTable()
    return SlotTable.from_dict(json.loads(text))


def save_table(path: Path, table: SlotTable) -> None:
    """Write the table so that a crash leaves either the old or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".slots-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(table.to_dict(), handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
