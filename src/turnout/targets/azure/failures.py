"""Azure SDK errors translated at the boundary into turnout errors that name the reason."""

from __future__ import annotations

from typing import Any

from turnout.errors import IntegrationError, StepError


def azure_reason(exc: BaseException) -> str:
    """'CODE: message' from an ARM error body, or the exception's own text."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    status = getattr(exc, "status_code", None)
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    text = " ".join(str(message).split())
    if len(text) > 400:
        text = text[:400] + "..."
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{code}: {text}" if code else f"{prefix}{text}"


def missing_action(exc: BaseException) -> str | None:
    """The action an AuthorizationFailed error says the caller may not perform."""
    error = getattr(exc, "error", None)
    if getattr(error, "code", None) != "AuthorizationFailed":
        return None
    message = str(getattr(error, "message", ""))
    marker = "perform action '"
    start = message.find(marker)
    if start < 0:
        return None
    end = message.find("'", start + len(marker))
    return message[start + len(marker) : end] if end > 0 else None


def step_error(what: str, exc: BaseException, **details: Any) -> StepError:
    """A failed step naming what was attempted and Azure's reason."""
    action = missing_action(exc)
    reason = azure_reason(exc)
    if action:
        reason = f"the caller lacks permission {action} ({reason})"
        details["missing_action"] = action
    return StepError(f"{what}: {reason}", details=details)


def integration_error(what: str, exc: BaseException) -> IntegrationError:
    """An unavailable or failing Azure API, for reads that are not a step's work."""
    return IntegrationError(f"{what}: {azure_reason(exc)}")
