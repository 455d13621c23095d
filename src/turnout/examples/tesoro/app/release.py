"""What this release is: its version and the features it ships.

build.py replaces this file in every release package with that release's settings from
releases.toml. The values here only serve running the source tree itself (`python -m app`).
"""

VERSION = "0.0.0.dev0"

REWARDS = True
"""Whether the reward endpoints exist; they need migrations/V001__add_rewards_table.sql."""

FAULT_RATE = 0.0
"""Share of transaction requests that fail with HTTP 500 (a seeded sequence)."""
