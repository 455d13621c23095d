"""What this release is: its version and the features it ships.

This is the only file that differs between the versions under examples/tesoro/versions/;
every other module of the app is the same in all three.
"""

VERSION = "1.0.0"

REWARDS = False
"""Rewards arrive in 1.1.0; until then /api/rewards/status answers "not-available"."""

FAULT_RATE = 0.0
"""Share of transaction requests that fail: none."""
