"""The audit chain's head, anchored outside the store: in the `deployments.log` line and
the release tag's message, both in the app's git repository.

An anchor is `[audit ROW HASH]`: the newest audit row when the line or tag was written and
the start of its hash (16 hex digits in the log line, all 64 in the tag). Whoever can
write the store cannot reach these, so deleting the newest rows, or rewriting the chain
and hashing it again, shows against them (`turnout audit verify`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from turnout.errors import TurnoutError

if TYPE_CHECKING:
    from turnout.config import LoadedConfig

ANCHOR = re.compile(r"\[audit (\d+) ([0-9a-f]{16,64})\]")
LOG_DIGITS = 16
"""Hex digits of the hash in a log line (64 bits: enough that no rewrite can match it)."""


def anchor_text(row: int, digest: str, digits: int = 64) -> str:
    """The anchor of audit row `row` whose hash is `digest`."""
    return f"[audit {row} {digest[:digits]}]"


@dataclass(frozen=True)
class Anchor:
    """One anchor found in the repository, and where."""

    row: int
    digest: str
    """The hash, or its first digits."""
    source: str
    """Where it was found, for people: `deployments.log line 3`, `tag v1.4.0`."""


def log_anchors(path: Path, shown: str) -> list[Anchor]:
    """The anchors in a deployment log (none when the file is not there)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found: list[Anchor] = []
    for number, line in enumerate(lines, start=1):
        for match in ANCHOR.finditer(line):
            found.append(Anchor(int(match[1]), match[2], f"{shown} line {number}"))
    return found


def tag_anchors(repo: Path) -> list[Anchor]:
    """The anchors in the messages of the repository's annotated tags."""
    from turnout.integrations.vcs import git, is_repository

    try:
        if not is_repository(repo):
            return []
        done = git(
            repo, "for-each-ref", "refs/tags", "--format=%(refname:short)%00%(contents)%00%00"
        )
    except TurnoutError:
        return []
    found: list[Anchor] = []
    for record in done.stdout.split("\0\0"):
        name, _, message = record.strip("\n").partition("\0")
        for match in ANCHOR.finditer(message):
            found.append(Anchor(int(match[1]), match[2], f"tag {name}"))
    return found


def repository_anchors(config: LoadedConfig) -> list[Anchor]:
    """Every anchor in the app's repository: each environment's deployment log, then the
    release tags."""
    repo = config.resolve_path(config.root.app.repository)
    found: list[Anchor] = []
    seen: set[Path] = set()
    for env in config.environments.values():
        path = Path(env.integrations.vcs.log_file).expanduser()
        path = (path if path.is_absolute() else repo / path).resolve()
        if path in seen:
            continue
        seen.add(path)
        found.extend(log_anchors(path, path.name))
    return found + tag_anchors(repo)
