"""One root error; each subclass carries the exit code the CLI maps it to.

Exit codes (DESIGN.md section 3):
0 done, 1 internal error, 2 bad input, 3 refused before any change,
4 failed and rolled back, 5 failed and needs a person.

1 is for bugs only: every condition a person can fix (bad arguments, a service that does
not answer, an operation that failed) has one of the other codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TurnoutError(Exception):
    """Root of every error turnout raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        return self.message


class BadInput(TurnoutError):
    """Usage, configuration, package or migration files are wrong; nothing was changed."""

    exit_code = 2


class ConfigError(BadInput):
    """The configuration file is missing, malformed or invalid."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}", details={"file": file, "key": key})
        self.file = file
        self.key = key
        self.problem = problem


class PackageError(BadInput):
    """A release package cannot be used (missing, unsafe archive, wrong layout)."""


class MigrationFileError(BadInput):
    """Migration files are badly named, duplicated, unreadable or changed after being applied."""


class Refused(TurnoutError):
    """Refused before any change: policy, gate, missing approval, lock held."""

    exit_code = 3


class LockHeld(Refused):
    """Another deployment holds the environment's lock."""


class Unavailable(Refused):
    """Something turnout needs did not answer (state store, slot host, database) before any
    change was made; the person can fix it (start it, reach it) and run the command again."""


class LockLost(LockHeld):
    """The lock was taken away (a forced take-over) while this process held it."""


class ApprovalRequired(Refused):
    """The deployment waits for an approval."""


class GateFailed(Refused):
    """A policy gate (window, freeze, checklist) said no."""


class RolledBack(TurnoutError):
    """The deployment failed and production is back on the previous version, verified."""

    exit_code = 4


class NeedsPerson(TurnoutError):
    """The deployment failed (or cannot decide) and a person must act; state is recorded."""

    exit_code = 5


class AuditChainBroken(NeedsPerson):
    """The audit log's hash chain does not hold: an entry was changed or deleted."""


class StepError(TurnoutError):
    """A step could not do its work; the engine compensates and decides the exit code.

    Outside a deployment (a command's own operation failed, e.g. a rollback or a backup)
    it is 5: the failure is an operational one a person acts on, never a bug (exit 1).
    """

    exit_code = 5


class NotSupported(StepError):
    """A backend was asked for an operation it cannot do (never a silent no-op)."""


class IntegrationError(TurnoutError):
    """An external system (HTTP API, subprocess, database) failed (exit 5: a person acts)."""

    exit_code = 5


class IntegrationUnavailable(IntegrationError, Unavailable):
    """An external system did not answer at all (refused, timed out, unreachable): exit 3
    when nothing was changed yet; the person makes it reachable and runs again."""

    exit_code = Unavailable.exit_code
