"""LocalTarget: the Target protocol over the slot host's admin socket."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.childenv import referenced_secrets
from turnout.errors import StepError, Unavailable
from turnout.model import Release
from turnout.targets.local.admin import AdminClient, HostNotAnswering, HostNotRunning
from turnout.targets.local.packages import limits_for
from turnout.targets.local.paths import host_paths, local_settings, split_address
from turnout.targets.packages import check_package
from turnout.targets.protocol import (
    PRODUCTION,
    BlockingCalls,
    Deadline,
    Operation,
    OperationKind,
    OperationResult,
    OperationStatus,
    SlotState,
    SlotStatus,
    TrafficShare,
)
from turnout.traffic import SecondBucket

if TYPE_CHECKING:
    import httpx

    from turnout.config import EnvironmentConfig, LoadedConfig

# Requests that only read: a host that never answers one has changed nothing.
_READ_ONLY = frozenset({"slots", "status", "metrics", "traffic", "check_settings"})
# Sending everything back to production is safe to ask again: nothing else is.
_SHARE_TIMEOUT = 10.0


class LocalTarget(BlockingCalls):
    """Slots on this machine, run by `turnout host up`; also a TrafficSource."""

    def __init__(self, config: LoadedConfig, env: EnvironmentConfig) -> None:
        self.name = env.name
        self.settings = local_settings(env)
        self.paths = host_paths(config, env)
        self.staging_slot = self.settings.staging_slot
        self._client = AdminClient(self.paths.socket, timeout=self.settings.admin_timeout)
        self._ended: dict[str, SlotState] = {}
        """Slot states of deploys this client ran, until their handle is followed."""

    # -- Target protocol ----------------------------------------------------------------
    def slots(self) -> dict[str, SlotState]:
        described: dict[str, dict[str, Any]] = self._call("slots")
        return {name: self._state(info) for name, info in described.items()}

    def production_url(self) -> str:
        host, port = split_address(self.settings.address)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def check_package(self, package: Path) -> None:
        """Safe to unpack within the host's limits (max_release_mb, unpack_timeout)."""
        check_package(package, limits_for(self.settings))

    def ensure_slot(self, slot: str) -> SlotState:
        return self._state(self._call("ensure_slot", slot=slot))

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        """The host deploys while the call lasts: the handle says it has ended."""
        state = self._deploy(slot, release, deadline)
        token = f"deploy-{uuid.uuid4().hex[:12]}"
        self._ended[token] = state
        return Operation(
            OperationKind.DEPLOY,
            self.name,
            slot,
            time.time(),
            token,
            detail={"version": release.version},
        )

    def begin_swap(
        self, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline
    ) -> Operation:
        """The host swaps while the call lasts: the handle says when traffic moved."""
        started = time.time()
        timeout = self.settings.drain_timeout + 2 * self.settings.start_timeout + 30
        answer = self._call(
            "swap", timeout=deadline.within(timeout), slot=slot, target_slot=target_slot
        )
        moved = float(answer.get("at") or time.time())
        after = answer.get("versions") or {}
        # The host answers with the slots' contents after the exchange.
        before = {slot: after.get(target_slot), target_slot: after.get(slot)}
        return Operation(
            OperationKind.SWAP,
            self.name,
            slot,
            started,
            f"swap-{answer.get('number', '')}",
            target_slot=target_slot,
            detail={"moved_at": moved, "before": before},
        )

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        """Both operations ended inside their call; this reads what the handle recorded."""
        if operation.kind is OperationKind.SWAP:
            moved = float(operation.detail["moved_at"])
            return OperationResult(
                operation, OperationStatus.SUCCEEDED, finished_at=moved, traffic_moved_at=moved
            )
        state = self._ended.pop(operation.token, None) or self.slots().get(operation.slot)
        if state is None or state.version != operation.detail.get("version"):
            found = state.version if state is not None else "nothing"
            return OperationResult(
                operation,
                OperationStatus.FAILED,
                f"slot {operation.slot} holds {found}, not {operation.detail.get('version')}",
            )
        return OperationResult(operation, OperationStatus.SUCCEEDED, state=state)

    def _deploy(self, slot: str, release: Release, deadline: Deadline) -> SlotState:
        package = str(release.package.resolve()) if release.package is not None else None
        timeout = deadline.within(self.settings.start_timeout + self.settings.unpack_timeout + 30)
        # The host follows this configuration file, and receives the app's secrets from
        # here (over the owner-only socket; never kept on disk).
        names = referenced_secrets(self.settings.settings, *self.settings.slot_settings.values())
        secrets = {name: value for name in sorted(names) if (value := _secret_value(name))}
        info = self._call(
            "deploy",
            timeout=timeout,
            slot=slot,
            version=release.version,
            package=package,
            target=self.settings.model_dump(mode="json"),
            secrets=secrets,
        )
        return self._state(info)

    def check_settings(self) -> list[str]:
        """Refused (exit 3) naming the keys when the running host cannot follow this
        configuration without a restart; else the keys a deploy would apply. Changes nothing."""
        answer = self._call("check_settings", target=self.settings.model_dump(mode="json"))
        return [str(key) for key in answer["changed"]]

    def transport(self) -> httpx.BaseTransport | None:
        return None

    def close(self) -> None:
        return None

    # -- SharesTraffic -------------------------------------------------------------------
    shares_traffic = True
    """The router sends a share of new clients to another slot, sticky by cookie or header."""

    def route_share(self, share: TrafficShare) -> TrafficShare:
        """Route the share through the host's router (percent 0: all to production)."""
        answer = self._call(
            "share",
            timeout=_SHARE_TIMEOUT,
            slot=share.slot,
            percent=share.percent if share.slot is not None else 0.0,
            stickiness=share.stickiness.value,
            name=share.name,
        )
        return TrafficShare.from_dict(answer)

    def current_share(self) -> TrafficShare:
        """The share the host's router applies now."""
        return TrafficShare.from_dict(self.status().get("share") or {})

    # -- TrafficSource ------------------------------------------------------------------
    def traffic(
        self, slot: str, since: float, until: float | None = None, version: str | None = None
    ) -> list[SecondBucket]:
        """Per-second buckets the router counted for a slot in [since, until) (only what
        `version` answered, when given)."""
        rows: list[dict[str, Any]] = self._call(
            "traffic", slot=slot, since=since, until=until, version=version
        )
        return [SecondBucket.from_dict(row) for row in rows]

    # -- extras -------------------------------------------------------------------------
    def slot_url(self, slot: str) -> str | None:
        state = self.slots().get(slot)
        return state.url if state is not None else None

    def status(self) -> dict[str, Any]:
        """The host's full status document (what `turnout host status --json` prints)."""
        result: dict[str, Any] = self._call("status")
        return result

    def prometheus(self) -> str:
        """Prometheus text exposition of the host's counters."""
        return str(self._call("metrics"))

    def swap_count(self) -> int:
        """How many swaps the host has done (durable across restarts)."""
        return int(self.status()["swaps"])

    # -- internals ----------------------------------------------------------------------
    def _call(self, op: str, *, timeout: float | None = None, **arguments: Any) -> Any:
        try:
            return self._client.call(op, timeout=timeout, **arguments)
        except HostNotRunning:
            # Nothing was asked of the host: the person starts it and runs again (exit 3).
            raise Unavailable(
                f"slot host for {self.name} is not running (turnout host up --env {self.name})"
            ) from None
        except HostNotAnswering as exc:
            seconds = exc.details["timeout"]
            where = f"admin socket {self.paths.socket}; host log {self.paths.host_log}"
            wedged = f"slot host for {self.name} did not answer {op!r} within {seconds:g} s"
            if op in _READ_ONLY:
                # Nothing was changed: refused like a host that is down (exit 3).
                raise Unavailable(
                    f"{wedged} (target.admin_timeout; {where}); nothing was changed"
                ) from None
            # It may have acted on the request: a person looks (exit 5).
            raise StepError(
                f"{wedged} ({where}); it may have done part of it: see turnout status",
                details=exc.details,
            ) from None

    def _state(self, info: dict[str, Any]) -> SlotState:
        name = str(info["name"])
        state = SlotStatus(str(info["state"]))
        url = info.get("url")
        if name == PRODUCTION and state == "running":
            url = self.production_url()  # the production slot's URL is the router's
        parts = []
        if info.get("pid"):
            parts.append(f"pid {info['pid']}")
        if info.get("port"):
            parts.append(f"port {info['port']}")
        if state == "crashed" and info.get("exit_code") is not None:
            parts.append(f"exit code {info['exit_code']}")
        if info.get("error"):
            parts.append(str(info["error"]))
        if info.get("applied_settings"):
            parts.append("applied changed settings: " + ", ".join(info["applied_settings"]))
        if info.get("log"):
            parts.append(f"log {info['log']}")
        return SlotState(
            name=name,
            version=info.get("version"),
            url=url if state == "running" else None,
            state=state,
            detail=", ".join(parts),
            build=info.get("build"),
        )


def _secret_value(name: str) -> str | None:
    """The value of a secret a setting names: an environment variable, or a Key Vault
    secret (its reference is the name), read now with the Azure credential."""
    if name.startswith("keyvault://"):
        from turnout.config.secrets import SecretRef

        return SecretRef(name).resolve(key="target.settings")
    return os.environ.get(name) or None
