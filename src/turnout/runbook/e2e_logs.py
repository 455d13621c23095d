"""Where E2E command output goes: owner-only files in the state directory, the newest kept."""

from __future__ import annotations

import tempfile
from pathlib import Path

KEEP = 20
"""E2E logs kept per state directory; the journal keeps each run's output tail anyway."""


def new_e2e_log(state_dir: Path, keep: int = KEEP) -> tuple[int, str]:
    """A new log file (descriptor, path), mode 0600, after pruning all but the newest `keep`."""
    folder = state_dir / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    old = sorted(folder.glob("e2e-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[max(0, keep - 1) :]:
        stale.unlink(missing_ok=True)
    # mkstemp creates the file 0600 and never reuses a name.
    return tempfile.mkstemp(dir=folder, prefix="e2e-", suffix=".log")
