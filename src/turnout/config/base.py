"""Shared base for every configuration model: unknown keys, infinities and huge integers are
errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

MAX_INTEGER = 2**53
"""Largest integer any key takes: exact as a JSON number and as a float, and far beyond any
count, size or duration that makes sense, so nothing overflows where it is used."""
MAX_SECONDS = 7 * 24 * 3600.0
"""Longest duration in seconds any timeout or period takes (a week): longer waits overflow
the operating system's timers and are a typo in practice."""


class Section(BaseModel):
    """A configuration table. Unknown keys are refused so typos never pass silently."""

    # TOML has inf and nan; no timeout, limit or threshold of turnout means either.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False, defer_build=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _integer_in_range(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise ValueError(f"out of range (at most {MAX_INTEGER} in size)")
        return value
