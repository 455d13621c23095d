"""The application database outside a deployment (`turnout db`): status, history, backup,
migrate, restore, each holding the environment's lease like a deployment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.runbook.database_operations import DatabaseOperations


@contextmanager
def database(
    env: str,
    *,
    actor: str | None = None,
    config: ConfigSource = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[DatabaseOperations]:
    """The database operations of `env`, acting as `actor`, while the state store is open."""
    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        yield DatabaseOperations(
            loaded,
            environment,
            store,
            actor=acting_user(actor),
            progress=progress or (lambda _line: None),
        )
