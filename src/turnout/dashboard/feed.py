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
import time
from dataclasses import dataclass, replace

from turnout.config import LoadedConfig
from turnout.dashboard.views import LiveTraffic, SlotLine
from turnout.errors import TurnoutError
from turnout.store import Store
from turnout.store.changes import change_mark
from turnout.traffic import merge, quantile_ms

TRAFFIC_WINDOW = 60.0
"""Seconds of production's traffic the environment's page shows."""


@dataclass(frozen=True)
class SlotsSeen:
    """An environment's slots and production's live traffic at the last look, or why the
    target (or its metrics source) could not say."""

    slots: tuple[SlotLine, ...] | None
    error: str | None
    traffic: LiveTraffic | None = None
    traffic_note: str = ""


def _traffic(config: LoadedConfig, name: str, target: object) -> tuple[LiveTraffic | None, str]:
    from turnout.analysis.provider import choose_provider
    from turnout.targets.protocol import PRODUCTION

    choice = choose_provider(config, config.env(name), target)
    if choice.provider is None:
        return None, choice.note
    try:
        until = time.time()
        buckets = choice.provider.buckets(PRODUCTION, until - TRAFFIC_WINDOW, until)
    finally:
        choice.provider.close()
    total = merge(buckets)
    return (
        LiveTraffic(
            seconds=TRAFFIC_WINDOW,
            requests=total.count,
            probes=total.probes,
            errors=total.errors,
            p95_ms=quantile_ms(total.latency, 0.95),
        ),
        "",
    )


def read_slots(config: LoadedConfig, name: str, *, traffic: bool = True) -> SlotsSeen:
    """Ask the environment's target for its slots and, with `traffic`, its metrics source
    for production's last minute (each one's error in words when it cannot)."""
    from turnout.targets.registry import create_target

    try:
        target = create_target(config, config.env(name))
    except TurnoutError as exc:
        return SlotsSeen(None, exc.message)
    try:
        try:
            found = target.slots()
        except TurnoutError as exc:
            return SlotsSeen(None, exc.message)
        seen, note = None, ""
        if traffic:
            try:
                seen, note = _traffic(config, name, target)
            except TurnoutError as exc:
                note = exc.message
    finally:
        target.close()
    slots = tuple(
        SlotLine(str(slot), info.version, str(info.state), info.detail)
        for slot, info in sorted(found.items())
    )
    return SlotsSeen(slots, None, seen, note)


class Feed:
    """The generation of what the page shows, and a way to wait for the next one."""

    def __init__(
        self,
        config: LoadedConfig,
        store: Store,
        *,
        interval: float = 0.2,
        slot_interval: float = 2.0,
        traffic_interval: float = 10.0,
    ) -> None:
        self.config = config
        self.store = store
        self.interval = interval
        self.slot_interval = slot_interval
        self.traffic_interval = traffic_interval
        """Production's traffic is asked for less often than the slots: a cloud metrics
        source is a query each time."""
        self.boot = secrets.token_hex(4)
        self.generation = 0
        self.slots: dict[str, SlotsSeen] = {}
        self._mark: str | None = None
        self._changed = asyncio.Event()

    @property
    def event_id(self) -> str:
        """The id of the current snapshot."""
        return f"{self.boot}-{self.generation}"

    async def refresh_slots(self, *, traffic: bool = True) -> bool:
        """Look at every environment's slots (and, with `traffic`, production's traffic;
        otherwise the last figures stay); whether anything changed."""
        names = list(self.config.root.environments)
        seen = await asyncio.gather(
            *(asyncio.to_thread(read_slots, self.config, n, traffic=traffic) for n in names)
        )
        fresh = dict(zip(names, seen, strict=True))
        if not traffic:
            for name, now in fresh.items():
                before = self.slots.get(name)
                if before is not None and now.slots is not None:
                    fresh[name] = replace(
                        now, traffic=before.traffic, traffic_note=before.traffic_note
                    )
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
        next_slots = next_traffic = loop.time() + self.slot_interval
        while True:
            changed = await self.look()
            if loop.time() >= next_slots:
                traffic = loop.time() >= next_traffic
                changed = await self.refresh_slots(traffic=traffic) or changed
                next_slots = loop.time() + self.slot_interval
                if traffic:
                    next_traffic = loop.time() + self.traffic_interval
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
