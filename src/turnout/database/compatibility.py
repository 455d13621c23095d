"""Whether a release's migrations leave the schema usable by the version before it.

A canary runs the old and the new version side by side on one database, after the new
version's migrations (expand first). A migration that the old version cannot live with
(a dropped or renamed column, a new NOT NULL column without a default) says so with a
line of its own:

    -- turnout: not-backward-compatible

and the canary is then skipped with a warning: both versions must not serve at once.
Only SQL migration files can carry the mark; an app's own migration tool is not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from turnout.database.migrations import Migration

MARK = "-- turnout: not-backward-compatible"
"""The comment line that marks a migration the previous version cannot run on."""

_MARK = re.compile(r"^\s*--\s*turnout:\s*not-backward-compatible\s*$", re.IGNORECASE | re.MULTILINE)


def marked_incompatible(sql: str) -> bool:
    """Whether a migration's text carries the not-backward-compatible mark on a line."""
    return _MARK.search(sql) is not None


def incompatible(migrations: Iterable[Migration]) -> list[str]:
    """File names of the migrations marked not backward compatible, in the order given."""
    return [m.filename for m in migrations if marked_incompatible(m.sql)]
