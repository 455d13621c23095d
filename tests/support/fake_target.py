"""The file-backed fake target's slots, set and read through its own API (not its file)."""

from __future__ import annotations

from pathlib import Path

from turnout.model import Release
from turnout.targets.fake import FakeTarget


def seed_fake_target(
    state_file: Path, slots: dict[str, str | None], unhealthy: list[str] | None = None
) -> FakeTarget:
    """A fresh fake target in `state_file` (a previous one is discarded) whose slots run
    these versions (None: empty), with `unhealthy` versions failing their health check."""
    state_file.unlink(missing_ok=True)
    target = FakeTarget(state_file=state_file)
    for slot, version in slots.items():
        target.ensure_slot(slot)
        if version is not None:
            target.deploy(slot, Release(version))
    for version in unhealthy or []:
        target.set_unhealthy(version)
    return target


def fake_target_slots(state_file: Path) -> dict[str, str | None]:
    """Which version each slot of the fake target in `state_file` runs (None: empty)."""
    return {name: slot.version for name, slot in FakeTarget(state_file=state_file).slots().items()}
