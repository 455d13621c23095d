"""Simulated traffic: a deterministic TrafficSource for tests, demos and benchmarks.

`CountingFakeTarget` is the fake target with such traffic on production.

Each slot follows a list of profiles (from a given time on: requests per second,
error rate, p95 latency). Seconds are generated on first request from a random
generator seeded by (seed, slot, second), so asking twice gives the same counts.
Latency is log-normal with the profile's p95.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION, Deadline, Operation, OperationResult
from turnout.traffic import SecondBucket

# Spread of the simulated latency: ln-space standard deviation.
SIGMA = 0.5
Z95 = 1.6448536269514722


@dataclass(frozen=True)
class Profile:
    """How a slot behaves from `since` (unix time) on."""

    since: float
    rps: float
    error_rate: float = 0.001
    p95_ms: float = 200.0


class SimulatedTraffic:
    """Per-second buckets generated from profiles; only finished seconds are handed out."""

    def __init__(self, now: Callable[[], float], seed: int = 0) -> None:
        self._now = now
        self.seed = seed
        self._profiles: dict[str, list[Profile]] = {}
        self._cache: dict[tuple[str, int], SecondBucket] = {}

    def set(
        self,
        slot: str,
        since: float,
        rps: float,
        error_rate: float = 0.001,
        p95_ms: float = 200.0,
    ) -> None:
        """From `since` on, the slot serves `rps` requests per second with these figures."""
        profiles = self._profiles.setdefault(slot, [])
        profiles.append(Profile(since, rps, error_rate, p95_ms))
        profiles.sort(key=lambda p: p.since)

    def profile(self, slot: str, second: int) -> Profile | None:
        """The profile in force at a second."""
        found = None
        for profile in self._profiles.get(slot, []):
            if profile.since <= second:
                found = profile
        return found

    def traffic(
        self, slot: str, since: float, until: float | None = None, version: str | None = None
    ) -> list[SecondBucket]:
        """Finished seconds in [since, until) with traffic, oldest first (one version per
        slot is simulated, so `version` selects nothing more)."""
        now = int(self._now())
        end = now if until is None else min(math.ceil(until), now)
        start = math.ceil(since)
        out = []
        for second in range(start, end):
            bucket = self._second(slot, second)
            if bucket is not None and bucket.count:
                out.append(SecondBucket.from_dict(bucket.to_dict()))
        return out

    def _second(self, slot: str, second: int) -> SecondBucket | None:
        key = (slot, second)
        if key in self._cache:
            return self._cache[key]
        profile = self.profile(slot, second)
        if profile is None:
            return None
        rng = random.Random(f"{self.seed}:{slot}:{second}")
        # Fractional rates: the expected count is right over many seconds.
        whole = int(profile.rps)
        count = whole + (1 if rng.random() < profile.rps - whole else 0)
        median = profile.p95_ms / math.exp(Z95 * SIGMA)
        bucket = SecondBucket(second=second)
        for _ in range(count):
            failed = rng.random() < profile.error_rate
            latency = median * math.exp(rng.gauss(0.0, SIGMA))
            bucket.add(500 if failed else 200, latency)
        self._cache[key] = bucket
        return bucket


@dataclass(frozen=True)
class VersionProfile:
    """How a version behaves when it serves production."""

    error_rate: float = 0.001
    p95_ms: float = 200.0


class CountingFakeTarget(FakeTarget):
    """The fake target plus simulated production traffic (a TrafficSource).

    Production serves `rps` requests per second; each second behaves like the
    version that was live then (its VersionProfile), so a swap changes the
    figures from that second on. For tests, demos and benchmarks of the analysis.
    """

    def __init__(
        self,
        name: str,
        now: Callable[[], float],
        *,
        rps: float,
        profiles: dict[str, VersionProfile],
        seed: int = 0,
        staging_slot: str = "blue",
    ) -> None:
        super().__init__(name, staging_slot=staging_slot, now=now)
        self._clock_now = now
        self.rps = rps
        self.profiles = profiles
        self.simulated = SimulatedTraffic(now, seed)

    def _retune(self) -> None:
        live = self.slots().get(PRODUCTION)
        version = live.version if live else None
        if version is None:
            self.simulated.set(PRODUCTION, self._clock_now(), 0.0)
            return
        profile = self.profiles.get(version, VersionProfile())
        self.simulated.set(
            PRODUCTION, self._clock_now(), self.rps, profile.error_rate, profile.p95_ms
        )

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        # Whatever ended (a deploy to production, a swap) may change what production runs.
        result = super().follow(operation, deadline=deadline)
        self._retune()
        return result

    def traffic(
        self, slot: str, since: float, until: float | None = None, version: str | None = None
    ) -> list[SecondBucket]:
        """Production's simulated traffic (other slots serve none)."""
        return self.simulated.traffic(slot, since, until)
