"""What this release is: its version and the features it ships.

This is the only file that differs between the versions under examples/tesoro/versions/;
every other module of the app is the same in all three.
"""

VERSION = "1.2.0"

REWARDS = True
"""1.1.0 added rewards (needs migrations/V001__add_rewards_table.sql)."""

FAULT_RATE = 0.05
"""The regression this release ships: about 5 % of transaction requests fail with HTTP 500.

/health and the health endpoints are not affected, so warm-up and smoke tests pass and only
the metric analysis after the swap catches it."""
