"""One watcher of the store and the targets for every viewer of the page.

It looks at the store's change mark a few times a second (a read-only transaction, so a
deployment writing its journal never waits for it) and at each environment's slots every
couple of seconds. When anything changed, the generation goes up and every open stream
wakes, renders (once per page and generation, shared by all its viewers) and sends a
snapshot. Streams name each snapshot `<boot>-<generation>`: a browser reconnecting with
the id of what it shows gets nothing until the next change; any other id (an older
snapshot, another run of the server) gets the current snapshot at once.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from turnout.config import LoadedConfig
from turnout.dashboard.views import SlotLine
from turnout.errors import TurnoutError
from turnout.store import Store
from turnout.store.changes import change_mark


@dataclass(frozen=True)
class SlotsSeen:
    """An environment's slots at the last look, or why the target could not say."""

    slots: tuple[SlotLine, ...] | None
    error: str | None


def read_slots(config: LoadedConfig, name: str) -> SlotsSeen:
    """Ask the environment's target for its slots (its error in words when it cannot)."""
    from turnout.targets.registry import create_target

    try:
        target = create_target(config, config.env(name))
        try:
            found = target.slots()
        finally:
            target.close()
    except TurnoutError as exc:
        return SlotsSeen(None, exc.message)
    return SlotsSeen(
        tuple(
            SlotLine(str(slot), info.version, str(info.state), info.detail)
            for slot, info in sorted(found.items())
        ),
        None,
    )


class Feed:
    """The generation of what the page shows, and a way to wait for the next one."""

    def __init__(
        self,
        config: LoadedConfig,
        store: Store,
        *,
        interval: float = 0.2,
        slot_interval: float = 2.0,
    ) -> None:
        self.config = config
        self.store = store
        self.interval = interval
        self.slot_interval = slot_interval
        self.boot = secrets.token_hex(4)
        self.generation = 0
        self.slots: dict[str, SlotsSeen] = {}
        self._mark: str | None = None
        self._changed = asyncio.Event()

    @property
    def event_id(self) -> str:
        """The id of the current snapshot."""
        return f"{self.boot}-{self.generation}"

    async def refresh_slots(self) -> bool:
        """Look at every environment's slots; whether anything changed."""
        names = list(self.config.root.environments)
        seen = await asyncio.gather(
            *(asyncio.to_thread(read_slots, self.config, name) for name in names)
        )
        fresh = dict(zip(names, seen, strict=True))
        changed = fresh != self.slots
        self.slots = fresh
        return changed

    async def look(self) -> bool:
        """Look at the store once; whether it changed."""
        mark = await asyncio.to_thread(change_mark, self.store)
        changed = mark != self._mark
        self._mark = mark
        return changed

    def bump(self) -> None:
        """A new generation: wake every stream."""
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Watch until cancelled."""
        loop = asyncio.get_running_loop()
        next_slots = 0.0
        while True:
            changed = await self.look()
            if loop.time() >= next_slots:
                changed = await self.refresh_slots() or changed
                next_slots = loop.time() + self.slot_interval
            if changed:
                self.bump()
            await asyncio.sleep(self.interval)

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the generation is past `seen` (True) or `timeout` passed (False)."""
        if self.generation != seen:
            return True
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True
