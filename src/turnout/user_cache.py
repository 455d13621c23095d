"""turnout's folder in the user's cache: what a command remembers to start faster next time.

Everything kept there can be rebuilt, so deleting the folder is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path:
    """`$XDG_CACHE_HOME/turnout` (default `~/.cache/turnout`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "turnout"
