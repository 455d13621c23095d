"""Settings that make tesoro's staging verification decide in seconds, not minutes, given as
the environment overrides `turnout` reads (TURNOUT__...)."""

from __future__ import annotations

OVERRIDE = "TURNOUT__ENVIRONMENTS__STAGING__ANALYSIS__"
QUICK = {
    # Decide in seconds, not minutes: a 5 % limit needs about 200 clean requests.
    OVERRIDE + "MAX_ERROR_RATE": "0.05",
    OVERRIDE + "MIN_OBSERVATION": "1",
    OVERRIDE + "PROBE__BEFORE_SWAP": "2",
    OVERRIDE + "PROBE__DECIDE_WITHIN": "2",
}
