"""Named points in a deployment's life where an embedding program may act.

The engine calls its checkpoint before and after each step and before each undo, with the
journal committed up to that point. A program that embeds turnout (the kill tests' entry
script) installs one that, say, kills the process there, to prove that `resume` finishes
whatever was interrupted. The default does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Moment(StrEnum):
    """Where, relative to a step, a checkpoint is."""

    BEFORE = "before"
    """Journaled as running, nothing of the step done yet."""
    AFTER = "after"
    """Journaled as succeeded with its outputs."""
    UNDO = "undo"
    """Journaled as undoing, nothing of the undo done yet."""


@dataclass(frozen=True)
class Point:
    """A checkpoint: a moment of a named step (written `before:swap`)."""

    moment: Moment
    step: str

    def __str__(self) -> str:
        return f"{self.moment.value}:{self.step}"


Checkpoint = Callable[[Point], None]


def no_checkpoint(_point: Point) -> None:
    """The default: nothing happens at checkpoints."""


_installed: Checkpoint = no_checkpoint


def install(checkpoint: Checkpoint) -> None:
    """Make `checkpoint` the one engines of this process use unless given another."""
    global _installed
    _installed = checkpoint


def installed() -> Checkpoint:
    """The checkpoint engines of this process use unless given another."""
    return _installed
