"""What a step is: observe, run, undo, and a hook after the deployment's outcome.

Steps reconcile rather than script: `observe` looks at the world and returns the
step's outputs when its effect is already in place (the engine then records the
step as succeeded without running it), which makes `resume` safe after a crash
or after someone acted by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from turnout.errors import NeedsPerson, NotSupported, Refused, RolledBack
from turnout.model import StepStatus

if TYPE_CHECKING:
    import httpx

    from turnout.clock import Clock
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.model import DeploymentInfo, PlannedDeployment
    from turnout.runbook.outputs import StepOutputs
    from turnout.store import Store
    from turnout.store.deployment_data import DeploymentData, FailureRecord
    from turnout.targets.protocol import Operation, Target


OPERATION = "operation"
"""The output key under which a step's journaled operation handle is kept."""
UNDO_OPERATION = "undo_operation"
"""The same for the operation its undo began."""


Outputs = TypeVar("Outputs", bound="StepOutputs")


class Outcome(StrEnum):
    """How a deployment ended, as told to steps' `after` hooks."""

    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    ROLLED_BACK = "rolled-back"
    NEEDS_PERSON = "needs-person"

    @property
    def exit_code(self) -> int:
        """The command's exit code for this ending (a refusal's comes from its error)."""
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Outcome.SUCCEEDED: 0,
    Outcome.REFUSED: Refused.exit_code,
    Outcome.ROLLED_BACK: RolledBack.exit_code,
    Outcome.NEEDS_PERSON: NeedsPerson.exit_code,
}


class ReleaseContext(Protocol):
    """What checking a release needs: a step's context, or a plan's (nothing recorded yet)."""

    @property
    def config(self) -> LoadedConfig:
        """The configuration."""

    @property
    def env(self) -> EnvironmentConfig:
        """The environment deployed to."""

    @property
    def store(self) -> Store:
        """The state store."""

    @property
    def clock(self) -> Clock:
        """The clock."""

    @property
    def deployment(self) -> PlannedDeployment:
        """The deployment (recorded or only planned)."""

    @property
    def progress(self) -> Callable[[str], None]:
        """Where lines of live progress go."""

    @property
    def target(self) -> Target:
        """The environment's target client."""


@dataclass
class PlannedRelease:
    """A release's context before any deployment is recorded (`turnout plan`)."""

    config: LoadedConfig
    env: EnvironmentConfig
    store: Store
    deployment: PlannedDeployment
    clock: Clock
    progress: Callable[[str], None] = lambda _message: None

    @cached_property
    def target(self) -> Target:
        """The environment's target client, created on first use."""
        from turnout.targets.registry import create_target

        return create_target(self.config, self.env)


@dataclass
class StepContext:
    """Everything a step may use. Built by the engine; steps never print."""

    config: LoadedConfig
    env: EnvironmentConfig
    deployment: DeploymentInfo
    store: Store
    clock: Clock
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Outputs of the steps that already succeeded, by step name."""
    statuses: dict[str, StepStatus] = field(default_factory=dict)
    """Journal status of every step of the plan, by step name."""
    progress: Callable[[str], None] = lambda _message: None
    """Report a line of live progress (the CLI shows it)."""
    failure_record: FailureRecord | None = None
    """While compensating or in `after`: the failed step, its error and evidence."""
    cut_off: set[str] = field(default_factory=set)
    """Steps an earlier run of this deployment started but never finished (a crash)."""
    target_factory: Callable[[], Target] | None = None
    operations: dict[str, Operation] = field(default_factory=dict)
    """Deploys and swaps steps began, by step name (`NAME:undo` for an undo's): journaled
    handles a later run follows instead of starting the work again."""
    keep_operation: Callable[[str, str, Operation], None] = lambda _step, _key, _op: None
    """How the engine journals a handle: (step, output key, operation)."""

    def track_operation(self, step: str, operation: Operation, *, undo: bool = False) -> None:
        """Journal the handle of an operation the target accepted, before waiting on it."""
        self.operations[f"{step}:undo" if undo else step] = operation
        self.keep_operation(step, UNDO_OPERATION if undo else OPERATION, operation)

    @cached_property
    def target(self) -> Target:
        """The environment's target client, created on first use."""
        if self.target_factory is not None:
            return self.target_factory()
        from turnout.targets.registry import create_target

        return create_target(self.config, self.env)

    def http_client(self, timeout: float = 5.0) -> httpx.Client:
        """An HTTP client that reaches the target's slot URLs (real or in-process)."""
        from turnout.runbook.http_checks import check_client

        return check_client(self.target, timeout)

    def output(self, kind: type[Outputs]) -> Outputs | None:
        """The typed outputs of the step that journals `kind`, once it has completed."""
        raw = self.outputs.get(kind.step)
        return None if raw is None else kind.from_journal(raw)

    def recorded_data(self) -> DeploymentData:
        """What the store holds for this deployment now (its typed data record)."""
        from turnout.store.deployment_data import DeploymentData

        row = self.store.deployment(self.deployment.id)
        return row.data if row is not None else DeploymentData()

    def has_outputs(self, step: str) -> bool:
        """Whether the named step journaled outputs in this deployment."""
        return step in self.outputs

    def succeeded(self, step: str) -> bool:
        """Whether the named step of this deployment's plan completed (run or observed)."""
        return self.statuses.get(step) in {StepStatus.SUCCEEDED, StepStatus.SKIPPED}


class Step:
    """Base class of every runbook step."""

    name: ClassVar[str]
    phase: ClassVar[str]
    undoable: ClassVar[bool] = False
    """True when `undo` reverses the step's effect (swap back, restore)."""
    gate: ClassVar[bool] = False
    """True for checks that change nothing (refusal here means exit 3)."""
    changes_production: ClassVar[bool] = True
    """False for steps that only tell people or read (announce, open an issue, snapshot):
    a refusal after them still means nothing was changed."""

    @classmethod
    def changed_production(cls) -> bool:
        """Whether this step, once done, may have changed what production runs or holds."""
        return cls.changes_production and not cls.gate

    def observe(self, ctx: StepContext) -> dict[str, Any] | StepOutputs | None:
        """Outputs if the step's effect is already in place, else None."""
        return None

    def run(self, ctx: StepContext) -> dict[str, Any] | StepOutputs:
        """Do the step's work; return outputs to journal (its outputs record, or a JSON-ready
        object; no secrets)."""
        raise NotImplementedError

    def undo(self, ctx: StepContext) -> dict[str, Any] | StepOutputs:
        """Reverse the step's effect during compensation; what it did, journaled under the
        step's outputs as `undo` (its record, or a JSON-ready object)."""
        raise NotSupported(f"step {self.name} cannot be undone")

    def phase_ended(self, ctx: StepContext, phase: str) -> None:
        """Called when a phase of the plan has completed, for steps that succeeded."""
        return None

    def after(self, ctx: StepContext, outcome: Outcome) -> None:
        """Called once the deployment has ended, for steps that succeeded (e.g. to announce)."""
        return None

    def unreported(self, ctx: StepContext) -> list[str]:
        """What this step's channel could not tell people during the deployment (comments
        that never reached the tracking issue, ...): added to the deployment's message."""
        return []
