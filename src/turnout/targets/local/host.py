"""The slot host: one process per environment owning its slots, router and admin socket.

Run it with `turnout host up --env E` (background) or `--foreground` (systemd);
`python -m turnout.targets.local.host --config FILE --env E` is the same in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from turnout.childenv import Setting, referenced_secrets, resolve_settings, setting_text
from turnout.config import EnvironmentConfig, LoadedConfig, load_config
from turnout.config.targets import LocalTargetConfig
from turnout.errors import BadInput, ConfigError, PackageError, Refused, StepError, TurnoutError
from turnout.targets.local import eventloop
from turnout.targets.local.admin import AdminError, serve_admin
from turnout.targets.local.endpoints import Reply, fetch_status, serve_endpoints
from turnout.targets.local.eventloop import current_loop_name
from turnout.targets.local.metrics import (
    PROMETHEUS_CONTENT_TYPE,
    SlotGauge,
    TrafficCounters,
    exposition,
)
from turnout.targets.local.packages import limits_for, unpack_release
from turnout.targets.local.paths import (
    HostPaths,
    host_paths,
    local_settings,
    safe_name,
    split_address,
)
from turnout.targets.local.router import Route, Router, ShareRoute
from turnout.targets.local.slots import (
    SlotProcess,
    SlotStartFailed,
    build_command,
    fill_settings,
    free_port,
    kill_leftover,
    slot_environment,
)
from turnout.targets.local.table import SlotRecord, SlotTable, load_table, save_table
from turnout.targets.protocol import NO_SHARE, PRODUCTION, Stickiness, TrafficShare
from turnout.text import log_handler
from turnout.traffic import merge, quantile_ms
from turnout.versions import version_problem

log = logging.getLogger("turnout.host")

_SLOT_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
_STICKY_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
RESTART_KEYS = frozenset(
    {"kind", "address", "slot_host", "metrics_address", "metrics_retention", "state_dir"}
)
"""Target settings a running host cannot change: a deploy naming other values is refused."""


@dataclass
class Slot:
    """A slot at run time: its durable record and the process serving it."""

    name: str
    record: SlotRecord
    process: SlotProcess | None = None
    error: str = ""
    """Why the slot is not running as recorded (last failed start), for people."""
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """empty, running, crashed or stopped."""
        if self.record.version is None:
            return "empty"
        if self.process is None:
            return "stopped"
        if self.process.running:
            return "running"
        return "stopped" if self.process.stopping else "crashed"


def sticky_digest(settings: Mapping[str, Setting]) -> str:
    """A stable fingerprint of slot-sticky settings (values are not kept in the table)."""
    text = json.dumps({k: setting_text(v) for k, v in settings.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def launch_digest(settings: LocalTargetConfig, slot: str, secrets: dict[str, str]) -> str:
    """Fingerprint of how a slot's process is started: command, settings and their secrets."""
    sticky = settings.slot_settings.get(slot, {})
    used = sorted(referenced_secrets(settings.settings, sticky))
    text = json.dumps(
        [
            settings.command,
            {k: setting_text(v) for k, v in settings.settings.items()},
            {k: setting_text(v) for k, v in sticky.items()},
            sorted(settings.pass_env),
            # Only a fingerprint of the secrets' values, so a rotated secret restarts the app.
            hashlib.sha256(json.dumps([secrets.get(n) for n in used]).encode()).hexdigest(),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SlotHost:
    """Owns one environment's slots, its router, metrics and admin socket."""

    def __init__(self, config: LoadedConfig, env: EnvironmentConfig) -> None:
        self.env_name = env.name
        self.config_path = config.path
        self.settings = local_settings(env)
        self.paths: HostPaths = host_paths(config, env)
        self.address = split_address(self.settings.address)
        self.metrics_address = (
            split_address(self.settings.metrics_address, "metrics_address")
            if self.settings.metrics_address
            else None
        )
        self.table = load_table(self.paths.table)
        self.slots: dict[str, Slot] = {
            name: Slot(name, record) for name, record in self.table.slots.items()
        }
        self.counters = TrafficCounters(self.settings.metrics_retention)
        self.router = Router(self.counters.record, upstream_timeout=self.settings.upstream_timeout)
        self.started_at = time.time()
        self._lock = asyncio.Lock()
        """Held while slots change hands (install, swap): short, never across an unpack."""
        self._deploying: dict[str, asyncio.Lock] = {}
        self._pinned: set[Path] = set()
        """Release directories of deploys still starting: not in the table yet, never pruned."""
        """One deployment at a time per slot; unpacking and starting happen under it."""
        self._secrets: dict[str, str] = dict(os.environ)
        """Where `env:NAME` settings are resolved: this host's environment, then the values
        the latest deploy brought (it runs where the secrets are)."""
        self.share: TrafficShare = NO_SHARE
        """The share of production's traffic another slot gets (a canary); not persisted: a
        restarted host sends everything to production, the safe side."""
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._servers: list[asyncio.Server] = []

    # -- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        """Restore the slots, serve until asked to stop, then stop every slot process."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        try:
            await self._restore()
            host, port = self.address
            try:
                self._servers.append(await self.router.start(host, port))
                if self.metrics_address:
                    self._servers.append(
                        await serve_endpoints(self._endpoint, *self.metrics_address)
                    )
            except OSError as exc:
                raise ConfigError(
                    str(self.config_path),
                    f"environments.{self.env_name}.target.address",
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                ) from exc
            self._spawn(self._health_loop())
            self._servers.append(await serve_admin(self.paths.socket, self.handle))
            log.info(
                "slot host for %s ready: router on %s:%d (%s)",
                self.env_name,
                host,
                port,
                current_loop_name(),
            )
            await self._stop.wait()
        finally:
            await self._shutdown()

    async def _restore(self) -> None:
        grace = self.settings.stop_grace
        for record in self.table.slots.values():
            await asyncio.to_thread(kill_leftover, record.pid, record.pid_started, grace)
        await asyncio.gather(
            *(self._restore_slot(slot) for slot in self.slots.values() if slot.record.version)
        )
        self._route_production()
        save_table(self.paths.table, self.table)
        await asyncio.to_thread(self._prune, True)

    async def _restore_slot(self, slot: Slot) -> None:
        record = slot.record
        assert record.version is not None
        if not record.release_dir or not Path(record.release_dir).is_dir():
            slot.error = f"release directory {record.release_dir} is gone"
            return
        try:
            process = await self._launch(record, slot.name, record.port)
        except (SlotStartFailed, BadInput, OSError) as exc:
            slot.error = f"restart failed: {exc}"
            log.error("slot %s: %s", slot.name, slot.error)
            return
        slot.process = process
        self._remember(slot)

    async def _shutdown(self) -> None:
        log.info("slot host for %s stopping", self.env_name)
        await self.router.stop()
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        processes = [s.process for s in self.slots.values() if s.process is not None]
        await asyncio.gather(*(p.stop(self.settings.stop_grace) for p in processes))
        with contextlib.suppress(FileNotFoundError):
            self.paths.socket.unlink()

    def request_stop(self) -> None:
        """Stop serving (the same as SIGTERM)."""
        self._stop.set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- processes ----------------------------------------------------------------------
    async def _launch(
        self, record: SlotRecord, slot: str, wanted_port: int | None = None
    ) -> SlotProcess:
        """Start the release of `record` for `slot` with the current settings."""
        assert record.version is not None and record.release_dir is not None
        version, release_dir = record.version, Path(record.release_dir)
        venv = release_dir / record.venv if record.venv else None
        sticky = dict(self.settings.slot_settings.get(slot, {}))
        port = free_port(self.settings.slot_host, wanted_port)
        values = {
            "port": str(port),
            "version": version,
            "release_dir": str(release_dir),
            "python": str(venv / "bin" / "python") if venv else sys.executable,
            "config_dir": str(self.config_path.parent),
        }
        if venv is not None:
            values["venv"] = str(venv)
        argv = build_command(self.settings.command, values)
        settings = [
            resolve_settings(
                fill_settings(self.settings.settings, values, "settings"),
                self._secrets,
                "target.settings",
            ),
            resolve_settings(
                fill_settings(sticky, values, f"slot_settings.{slot}"),
                self._secrets,
                f"target.slot_settings.{slot}",
            ),
        ]
        env = slot_environment(
            os.environ,
            port=port,
            version=version,
            release_dir=release_dir,
            venv=venv,
            passed=self.settings.pass_env,
            settings=settings,
        )
        process = SlotProcess(
            version=version,
            release_dir=release_dir,
            host=self.settings.slot_host,
            port=port,
            sticky=sticky_digest(sticky),
            log=self.paths.log_for(version),
        )
        process.launch = launch_digest(self.settings, slot, self._secrets)
        await process.start(argv, env, slot)
        await process.wait_listening(self.settings.start_timeout)
        self._spawn(self._watch(process))
        log.info("started %s for slot %s on port %d (pid %s)", version, slot, port, process.pid)
        return process

    async def _watch(self, process: SlotProcess) -> None:
        code = await process.wait()
        if process.stopping:
            return
        holder = next((s for s in self.slots.values() if s.process is process), None)
        where = f"slot {holder.name}" if holder else "a retired process"
        # Reported, never restarted: a crash loop would hide the problem and burn the machine.
        log.error("%s: %s exited with code %s (log %s)", where, process.version, code, process.log)
        if holder is not None:
            holder.error = f"exited with code {code}"
            if holder.name == PRODUCTION:
                self._route_production()
            if holder.name == self.share.slot:
                self._clear_share(f"slot {holder.name} exited")

    async def _retire(self, process: SlotProcess | None) -> None:
        """Let in-flight requests finish on a replaced process, then stop it."""
        if process is None:
            return
        process.upstream.close()
        await process.upstream.drained(self.settings.drain_timeout)
        await process.stop(self.settings.stop_grace)
        log.info("retired %s on port %d", process.version, process.port)

    async def _save(self) -> None:
        # fsync takes milliseconds; off the event loop the router keeps serving meanwhile.
        snapshot = SlotTable.from_dict(self.table.to_dict())
        await asyncio.to_thread(save_table, self.paths.table, snapshot)

    def _remember(self, slot: Slot) -> None:
        process = slot.process
        if process is not None:
            slot.record.port = process.port
            slot.record.pid = process.pid
            slot.record.pid_started = process.pid_started
            slot.record.sticky = process.sticky
            slot.record.launch = process.launch
        self.table.slots[slot.name] = slot.record

    def _route_production(self) -> Route | None:
        slot = self.slots[PRODUCTION]
        process = slot.process
        if process is not None and process.running and slot.record.version:
            return self.router.set_production(
                Route(PRODUCTION, slot.record.version, process.upstream)
            )
        if slot.record.version is None:
            reason = "no version is deployed to the production slot"
        else:
            reason = f"production slot ({slot.record.version}) is {slot.state}: {slot.error}"
        return self.router.set_production(None, reason, slot.record.version or "")

    # -- admin operations ---------------------------------------------------------------
    async def handle(self, request: dict[str, Any]) -> Any:
        """Answer one admin request."""
        op = request["op"]
        if op == "ping":
            return {"pid": os.getpid(), "environment": self.env_name}
        if op == "status":
            return self.status()
        if op == "slots":
            return self.status()["slots"]
        if op == "ensure_slot":
            return await self.ensure_slot(_slot_name(request.get("slot")))
        if op == "deploy":
            package = request.get("package")
            wanted = request.get("target")
            secrets = request.get("secrets")
            return await self.deploy(
                _slot_name(request.get("slot")),
                _version(request.get("version")),
                Path(package) if package else None,
                wanted if isinstance(wanted, dict) else None,
                {str(k): str(v) for k, v in secrets.items()} if isinstance(secrets, dict) else None,
            )
        if op == "check_settings":
            wanted = request.get("target")
            changed = self._follow(wanted, apply=False) if isinstance(wanted, dict) else []
            return {"changed": changed}
        if op == "share":
            return self.route_share(request)
        if op == "swap":
            return await self.swap(
                _slot_name(request.get("slot")), _slot_name(request.get("target_slot", PRODUCTION))
            )
        if op == "traffic":
            until = request.get("until")
            version = request.get("version")
            buckets = self.counters.traffic(
                str(request["slot"]),
                float(request["since"]),
                None if until is None else float(until),
                None if version is None else str(version),
            )
            return [b.to_dict() for b in buckets]
        if op == "metrics":
            return self.prometheus().decode()
        if op == "stop":
            asyncio.get_running_loop().call_soon(self._stop.set)
            return {"stopping": True, "pid": os.getpid()}
        raise AdminError("bad", f"unknown operation {op!r}")

    async def ensure_slot(self, name: str) -> dict[str, Any]:
        """Create an empty slot if it does not exist."""
        async with self._lock:
            if name not in self.slots:
                self.slots[name] = Slot(name, SlotRecord())
                self.table.slots[name] = self.slots[name].record
                await self._save()
                log.info("created slot %s", name)
            return self._describe(self.slots[name])

    async def deploy(
        self,
        name: str,
        version: str,
        package: Path | None,
        wanted: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Unpack and start `version` in slot `name`; nothing to do if that build runs there.

        `wanted` is the deployer's copy of the target settings: differences the host can
        apply (command, settings, timeouts) are applied to the process it starts and to
        later ones; the others (addresses, state directory) are refused naming the keys.
        The unpack and the start happen outside the host lock, so a swap (a rollback)
        never waits behind them."""
        if name not in self.slots:
            raise StepError(f"slot {name!r} does not exist (known: {', '.join(self.slots)})")
        lock = self._deploying.setdefault(name, asyncio.Lock())
        async with lock:
            applied = self._follow(wanted)
            if secrets:
                self._secrets.update(secrets)
            record = await self._release_record(version, package)
            pinned = Path(str(record.release_dir))
            self._pinned.add(pinned)
            try:
                return await self._install(name, record, applied)
            finally:
                self._pinned.discard(pinned)

    async def _install(self, name: str, record: SlotRecord, applied: list[str]) -> dict[str, Any]:
        """Start the release in the slot unless that build already runs there as configured."""
        version = str(record.version)
        slot = self.slots[name]
        wanted_launch = launch_digest(self.settings, name, self._secrets)
        if (
            slot.state == "running"
            and slot.record.release_dir == record.release_dir
            and slot.process is not None
            and slot.process.launch == wanted_launch
        ):
            return {**self._describe(slot), "reused": True, "applied_settings": applied}
        try:
            process = await self._launch(record, name)
        except SlotStartFailed as exc:
            slot.error = f"deploy of {version} failed (build {record.build}): {exc}"
            raise _start_error(name, exc) from None
        async with self._lock:
            # The slot may have changed hands meanwhile (a swap): whatever is in it now
            # is what this deployment replaces.
            slot = self.slots[name]
            previous = slot.process
            slot.process, slot.error = process, ""
            slot.record = record
            self._remember(slot)
            await self._save()
            if name == PRODUCTION:
                self._route_production()
            if name == self.share.slot:
                self._clear_share(f"slot {name} was redeployed")
        self._spawn(self._retire(previous))
        log.info("deployed %s (build %s) to slot %s", version, record.build, name)
        await asyncio.to_thread(self._prune)
        return {**self._describe(slot), "reused": False, "applied_settings": applied}

    def _follow(self, wanted: dict[str, Any] | None, *, apply: bool = True) -> list[str]:
        """Adopt the deployer's target settings; the keys that changed (see `deploy`).

        With `apply=False` only the refusal is checked (what a deploy's pre-flight asks)."""
        if wanted is None:
            return []
        try:
            new = LocalTargetConfig.model_validate(wanted)
        except ValidationError as exc:
            raise BadInput(f"target settings sent by the deployer are not valid: {exc}") from None
        old_values = self.settings.model_dump(mode="json")
        new_values = new.model_dump(mode="json")
        changed = sorted(k for k in new_values if new_values[k] != old_values.get(k))
        fixed = [k for k in changed if k in RESTART_KEYS]
        if fixed:
            keys = ", ".join(f"target.{k}" for k in fixed)
            raise Refused(
                f"the slot host for {self.env_name} runs with other values of {keys} than"
                f" {self.config_path}; those apply only when the host starts: restart it"
                f" (turnout host down --env {self.env_name}, then host up)",
                details={"keys": fixed},
            )
        if changed and apply:
            log.info("applying changed target settings: %s", ", ".join(changed))
            self.settings = new
            self.router.upstream_timeout = new.upstream_timeout
        return changed

    async def _release_record(self, version: str, package: Path | None) -> SlotRecord:
        limits = limits_for(self.settings)
        if package is not None:
            release = await asyncio.to_thread(
                unpack_release, package, self.paths.releases, version, limits
            )
            return SlotRecord(
                version=version,
                release_dir=str(release.path),
                build=release.build,
                venv=release.venv,
                deployed_at=time.time(),
            )
        # No package: a version unpacked before (a rollback to an older release) is reused.
        found = [p for p in self.paths.releases.glob(f"{safe_name(version)}-*") if p.is_dir()]
        if not found:
            raise PackageError(f"release {version} has no package and was never unpacked here")
        if len(found) > 1:
            builds = ", ".join(sorted(p.name.rsplit("-", 1)[-1] for p in found))
            raise PackageError(
                f"release {version} was unpacked here in several builds ({builds});"
                " name its package with --package"
            )
        release_dir = found[0]
        venvs = sorted(release_dir.glob("*/pyvenv.cfg")) + sorted(release_dir.glob("pyvenv.cfg"))
        venv = venvs[0].parent.relative_to(release_dir).as_posix() if venvs else None
        os.utime(release_dir)
        return SlotRecord(
            version=version,
            release_dir=str(release_dir),
            build=release_dir.name.rsplit("-", 1)[-1],
            venv=venv,
            deployed_at=time.time(),
        )

    def _prune(self, at_start: bool = False) -> None:
        """Remove unpacked releases no slot uses, keeping the `keep_releases` newest others."""
        releases = self.paths.releases
        if not releases.is_dir():
            return
        in_use = {Path(r.release_dir) for r in self.table.slots.values() if r.release_dir}
        in_use |= self._pinned
        spare: list[Path] = []
        for entry in releases.iterdir():
            if entry.name.startswith(".unpack-"):
                if at_start:  # left by a host that died while unpacking
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if entry.is_dir() and entry not in in_use:
                spare.append(entry)
        spare.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        kept_versions = {r.version for r in self.table.slots.values() if r.version}
        for entry in spare[: self.settings.keep_releases]:
            kept_versions.add(entry.name.rsplit("-", 1)[0])
        for entry in spare[self.settings.keep_releases :]:
            shutil.rmtree(entry, ignore_errors=True)
            log.info("pruned release %s", entry.name)
        # A log outlives its release only while some build of that version is kept.
        if self.paths.logs.is_dir():
            kept_logs = {self.paths.log_for(v).name for v in kept_versions}
            for log_file in self.paths.logs.glob("*.log"):
                if log_file.name not in kept_logs:
                    log_file.unlink(missing_ok=True)

    async def swap(self, name: str, target: str) -> dict[str, Any]:
        """Exchange the contents of two slots; the router follows at once."""
        async with self._lock:
            if name == target:
                raise StepError(f"cannot swap slot {name} with itself")
            for slot_name in (name, target):
                if slot_name not in self.slots:
                    raise StepError(
                        f"slot {slot_name!r} does not exist (known: {', '.join(self.slots)})"
                    )
            source, dest = self.slots[name], self.slots[target]
            for incoming, into in ((source, dest), (dest, source)):
                if into.name == PRODUCTION and incoming.state != "running":
                    detail = f" ({incoming.error})" if incoming.error else ""
                    raise StepError(
                        f"slot {incoming.name} is {incoming.state}{detail}; "
                        "refusing to swap it into production"
                    )
            # Slot-sticky settings stay with the slot: a process that would carry the
            # other slot's settings is replaced before the switch, as App Service does.
            into_dest = await self._with_settings_of(source, target)
            into_source = await self._with_settings_of(dest, name)
            retired = [
                old
                for old, new in ((source.process, into_dest), (dest.process, into_source))
                if old is not None and new is not old
            ]
            if self.share.slot in (name, target):
                # The share named a slot's content; after the exchange it would name the other.
                self._clear_share("a swap exchanged the slots")
            source_record, dest_record = source.record, dest.record
            source.record, dest.record = dest_record, source_record
            source.process, dest.process = into_source, into_dest
            source.error, dest.error = dest.error, source.error
            self._remember(source)
            self._remember(dest)
            self.table.swaps += 1
            self.table.last_swap = {
                "number": self.table.swaps,
                "at": time.time(),
                "slot": name,
                "target_slot": target,
                "versions": {name: source.record.version, target: dest.record.version},
            }
            await self._save()
            previous = self._route_production() if PRODUCTION in (name, target) else None
            log.info("swapped %s and %s: %s", name, target, self.table.last_swap["versions"])
            for process in retired:
                self._spawn(self._retire(process))
            result = dict(self.table.last_swap)
        # Outside the lock: waiting for the old production's in-flight requests.
        drained = True
        if previous is not None:
            drained = await previous.upstream.drained(self.settings.drain_timeout)
        result["drained"] = drained
        return result

    def route_share(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a share of production's new clients to another running slot (percent 0:
        everything to production again)."""
        percent = request.get("percent")
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            raise AdminError("bad", f"bad percent {percent!r}")
        if not 0 <= float(percent) <= 100:
            raise AdminError("bad", f"percent {percent} is not between 0 and 100")
        if float(percent) == 0:
            self._clear_share("asked")
            return self.share.to_dict()
        name = _slot_name(request.get("slot"))
        try:
            stickiness = Stickiness(str(request.get("stickiness") or "cookie"))
        except ValueError:
            raise AdminError("bad", f"bad stickiness {request.get('stickiness')!r}") from None
        sticky_name = str(request.get("name") or "")
        if not sticky_name or not set(sticky_name) <= _STICKY_NAME_CHARS:
            raise AdminError("bad", f"bad cookie or header name {sticky_name!r}")
        slot = self.slots.get(name)
        if slot is None or name == PRODUCTION:
            raise StepError(f"slot {name!r} cannot take a share of production's traffic")
        process = slot.process
        if process is None or not process.running or slot.record.version is None:
            raise StepError(f"slot {name} is {slot.state}; not routing traffic to it")
        key = sticky_name.lower() if stickiness is Stickiness.HEADER else sticky_name
        self.router.set_share(
            ShareRoute(
                Route(name, slot.record.version, process.upstream),
                float(percent),
                stickiness,
                key.encode(),
            )
        )
        self.share = TrafficShare(name, float(percent), stickiness, sticky_name)
        log.info("routing %g %% of new clients to slot %s (%s)", percent, name, stickiness.value)
        return self.share.to_dict()

    def _clear_share(self, why: str) -> None:
        if self.share.active:
            log.info("traffic share of slot %s back to zero: %s", self.share.slot, why)
        self.router.set_share(None)
        self.share = NO_SHARE

    async def _with_settings_of(self, slot: Slot, into: str) -> SlotProcess | None:
        process = slot.process
        wanted = sticky_digest(dict(self.settings.slot_settings.get(into, {})))
        if process is None or not process.running or process.sticky == wanted:
            return process
        try:
            return await self._launch(slot.record, into)
        except SlotStartFailed as exc:
            raise _start_error(into, exc) from None

    # -- observation --------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Everything `host status` shows."""
        host, port = self.address
        now = time.time()
        return {
            "environment": self.env_name,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "uptime": now - self.started_at,
            "address": f"{host}:{port}",
            "metrics_url": (
                f"http://{self.metrics_address[0]}:{self.metrics_address[1]}/metrics"
                if self.metrics_address
                else None
            ),
            "socket": str(self.paths.socket),
            "state_dir": str(self.paths.state_dir),
            "swaps": self.table.swaps,
            "last_swap": self.table.last_swap,
            "share": self.share.to_dict(),
            "slots": {name: self._describe(slot) for name, slot in self.slots.items()},
        }

    def _describe(self, slot: Slot) -> dict[str, Any]:
        process = slot.process
        now = time.time()
        # Traffic belongs to the version that answered it: after a swap, the last minute of
        # the old version's production traffic moves with it to the other slot.
        version = slot.record.version
        recent = merge(self.counters.served_by(version, now - 60) if version else [])
        requests = recent.count
        return {
            "name": slot.name,
            "version": slot.record.version,
            "state": slot.state,
            "url": process.url if process is not None and process.running else None,
            "pid": process.pid if process is not None else None,
            "port": process.port if process is not None else slot.record.port,
            "exit_code": process.exit_code if process is not None else None,
            "started_at": process.started_at if process is not None else None,
            "uptime": now - process.started_at if process is not None and process.running else None,
            "log": str(process.log) if process is not None else None,
            "release_dir": slot.record.release_dir,
            "build": slot.record.build,
            "error": slot.error,
            "health": slot.health,
            "traffic": {
                "requests_60s": requests,
                "rps": round(requests / 60, 2),
                "errors_60s": recent.errors,
                "error_rate": (recent.errors / requests) if requests else None,
                "p50_ms": quantile_ms(recent.latency, 0.5),
                "p95_ms": quantile_ms(recent.latency, 0.95),
            },
        }

    def prometheus(self) -> bytes:
        """Prometheus text of the traffic counters and slot states."""
        gauges = [
            SlotGauge(name, slot.record.version or "", slot.state == "running")
            for name, slot in self.slots.items()
        ]
        return exposition(self.counters, lambda: gauges)

    def _endpoint(self, path: str) -> Reply:
        """The metrics address's answers: Prometheus text, and the host's own health."""
        if path == "/metrics":
            return Reply(200, self.prometheus(), PROMETHEUS_CONTENT_TYPE)
        if path == "/health":
            document = {
                "status": "ok",
                "environment": self.env_name,
                "slots": {name: slot.state for name, slot in self.slots.items()},
            }
            return Reply(200, json.dumps(document).encode(), "application/json")
        return Reply(404, b"see /metrics or /health\n")

    async def _health_loop(self) -> None:
        while True:
            for slot in list(self.slots.values()):
                process = slot.process
                if process is not None and process.running:
                    slot.health = await _probe(process, self.settings.health_path)
                else:
                    slot.health = {}
            await asyncio.sleep(self.settings.health_interval)


async def _probe(process: SlotProcess, path: str) -> dict[str, Any]:
    checked = time.time()
    try:
        code = await fetch_status(process.host, process.port, path, 2.0)
        return {"ok": code < 400, "status": code, "checked_at": checked}
    except (OSError, TimeoutError) as exc:
        return {"ok": False, "status": None, "error": str(exc), "checked_at": checked}


def _version(value: Any) -> str:
    problem = version_problem(value) if isinstance(value, str) else "it is not a string"
    if problem is not None:
        raise AdminError("bad", f"bad version {value!r}: {problem}")
    return str(value)


def _slot_name(value: Any) -> str:
    if not isinstance(value, str) or not value or not set(value) <= _SLOT_NAME_CHARS:
        raise AdminError("bad", f"bad slot name {value!r} (lowercase letters, digits, - and _)")
    return value


def _start_error(slot: str, exc: SlotStartFailed) -> StepError:
    tail = exc.log_tail
    last = "\n".join(tail.splitlines()[-5:])
    return StepError(
        f"slot {slot}: {exc} (log {exc.log})" + (f"\n{last}" if last else ""),
        details={"exit_code": exc.exit_code, "log": str(exc.log), "log_tail": tail, "slot": slot},
    )


# -- entry point ------------------------------------------------------------------------
def hold_lock(paths: HostPaths) -> int:
    """Take the host lock (one host per environment); the open descriptor keeps it."""
    paths.ensure()
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = paths.pid_file.read_text().strip() if paths.pid_file.exists() else "?"
        raise BadInput(f"a slot host already runs for {paths.state_dir} (pid {pid})") from None
    pid_fd = os.open(paths.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(pid_fd, "w") as pid_file:
        pid_file.write(f"{os.getpid()}\n")
    return fd


def run_host(config: LoadedConfig, env: EnvironmentConfig) -> None:
    """Run the host in this process until SIGTERM/SIGINT or an admin `stop`."""
    host_paths_ = host_paths(config, env)
    lock = hold_lock(host_paths_)
    try:
        eventloop.run(SlotHost(config, env).run())
    finally:
        with contextlib.suppress(FileNotFoundError):
            host_paths_.pid_file.unlink()
        os.close(lock)


def main(argv: list[str] | None = None) -> int:
    """`python -m turnout.targets.local.host --config FILE --env NAME`."""
    parser = argparse.ArgumentParser(prog="turnout-host", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, handlers=[log_handler(sys.stderr)])
    try:
        config = load_config(args.config)
        run_host(config, config.env(args.env))
    except TurnoutError as exc:
        log.error("%s", exc.message)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
