"""Release version labels: one documented pattern, checked before anything happens.

A version names release directories, log files, tags and command arguments, so it
must be one safe word: it starts with a letter or digit and continues with
letters, digits, `.`, `_`, `+` and `-` (at most 100 characters). That rules out
the empty string, whitespace, control characters, path separators and a leading
dash (which a program would read as an option).
"""

from __future__ import annotations

import re

from turnout.errors import BadInput

PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$"
_VERSION = re.compile(PATTERN)


def version_problem(version: str) -> str | None:
    """Why a version label is refused, or None when it is valid."""
    if _VERSION.fullmatch(version):
        return None
    if not version:
        return "it is empty"
    if len(version) > 100:
        return "it is longer than 100 characters"
    if version[0] in "-.+_":
        return f"it starts with {version[0]!r}"
    bad = next(c for c in version if not (c.isascii() and (c.isalnum() or c in "._+-")))
    return f"it contains {bad!r}"


def check_version(version: str, *, what: str = "--version") -> str:
    """The version itself when valid; otherwise BadInput (exit 2) saying why."""
    problem = version_problem(version)
    if problem is not None:
        raise BadInput(
            f"{what} {version!r}: not a valid release version ({problem}); use letters, digits,"
            " '.', '_', '+' and '-', starting with a letter or digit"
        )
    return version
