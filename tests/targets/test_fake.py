"""The fake target models slow swaps and swaps that fail after they started."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.errors import StepError
from turnout.model import Release
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION, Deadline, OperationStatus


def _staged(state_file: Path, *, swap_seconds: float = 0.0, swap_fails: bool = False) -> FakeTarget:
    target = FakeTarget(
        "web", state_file=state_file, swap_seconds=swap_seconds, swap_fails=swap_fails
    )
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0"))
    return target


def test_slow_swap_runs_until_its_time_and_another_process_follows_it(tmp_path: Path) -> None:
    """A slow swap is running after begin_swap (nothing moved yet); a second client on the
    same state follows its handle to the end, and traffic moved when the swap ended."""
    state = tmp_path / "fake.json"
    target = _staged(state, swap_seconds=0.5)
    operation = target.begin_swap("blue", PRODUCTION, deadline=Deadline.after(10))
    early = target.follow(operation, deadline=Deadline.after(0))
    assert early.status is OperationStatus.RUNNING
    assert target.slots()[PRODUCTION].version is None
    assert target.swap_running()
    with pytest.raises(StepError, match="another swap is in progress"):
        target.begin_swap("blue", PRODUCTION, deadline=Deadline.after(10))
    other = FakeTarget("web", state_file=state)
    result = other.follow(operation, deadline=Deadline.after(10))
    assert result.status is OperationStatus.SUCCEEDED
    assert result.traffic_moved_at == pytest.approx(operation.started_at + 0.5)
    assert other.slots()[PRODUCTION].version == "1.0.0" and other.swap_count() == 1


def test_swap_that_fails_after_it_started_moves_nothing(tmp_path: Path) -> None:
    """With swap_fails the swap is accepted, then ends failed with production unchanged."""
    target = _staged(tmp_path / "fake.json", swap_fails=True)
    operation = target.begin_swap("blue", PRODUCTION, deadline=Deadline.after(10))
    result = target.follow(operation, deadline=Deadline.after(10))
    assert result.status is OperationStatus.FAILED
    assert "nothing moved" in result.message and result.traffic_moved_at is None
    assert {n: s.version for n, s in target.slots().items()} == {PRODUCTION: None, "blue": "1.0.0"}
    assert target.swap_count() == 0 and not target.swap_running()
