"""`turnout host up|down|status`: the local slot host of an environment."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer

from turnout.cli.common import (
    ConfigOption,
    EnvOption,
    JsonOption,
    emit_json,
    load,
    print_table,
    say,
)

host_app = typer.Typer(
    help="The local slot host: slot processes, router and metrics (local target only).",
    no_args_is_help=True,
)


@host_app.command("up")
def up(
    env: EnvOption,
    config: ConfigOption = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this process (for systemd).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Start the slot host (detached), restoring the slots it had."""
    from turnout.targets.local import start_host

    loaded = load(config)
    environment = loaded.env(env)
    if foreground:
        from turnout.text import log_handler

        logging.basicConfig(level=logging.INFO, handlers=[log_handler(sys.stderr)])
        status = start_host(loaded, environment, foreground=True)
        if status.get("already_running"):
            say(f"slot host for {env} already runs (pid {status['pid']})")
        return
    status = start_host(loaded, environment)
    status["running"] = True
    if as_json:
        emit_json(status)
        return
    verb = "already runs" if status.get("already_running") else "started"
    say(f"slot host for {env} {verb} (pid {status['pid']}); router on http://{status['address']}")
    _render(status)


@host_app.command("down")
def down(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Stop the slot host: slot processes get SIGTERM, then SIGKILL after stop_grace."""
    from turnout.targets.local import stop_host

    loaded = load(config)
    was_running = stop_host(loaded, loaded.env(env))
    if as_json:
        emit_json({"environment": env, "was_running": was_running, "running": False})
    elif was_running:
        say(f"slot host for {env} stopped")
    else:
        say(f"slot host for {env} was not running")


@host_app.command("status")
def status(
    env: EnvOption,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    metrics: Annotated[
        bool, typer.Option("--metrics", help="Print the Prometheus text exposition instead.")
    ] = False,
) -> None:
    """Each slot's version, pid, port, health, uptime, traffic and log file."""
    from turnout.targets.local import host_status

    loaded = load(config)
    environment = loaded.env(env)
    if metrics:
        from turnout.targets.local import LocalTarget

        sys.stdout.write(LocalTarget(loaded, environment).prometheus())
        return
    current = host_status(loaded, environment)
    if current is None:
        if as_json:
            emit_json({"environment": env, "running": False})
        else:
            say(f"slot host for {env} is not running (turnout host up --env {env})")
        return
    current["running"] = True
    if as_json:
        emit_json(current)
    else:
        say(f"slot host for {env}: pid {current['pid']}, up {_duration(current['uptime'])}")
        _render(current)


def _render(status: dict[str, Any]) -> None:
    say(f"router http://{status['address']}  swaps {status['swaps']}  admin {status['socket']}")
    if status.get("metrics_url"):
        say(f"metrics {status['metrics_url']}")
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("slot", "version", "state", "pid", "port", "health", "uptime", "req/60s"):
        table.add_column(column)
    table.add_column("errors")
    table.add_column("p95 ms")
    for slot in status["slots"].values():
        traffic = slot["traffic"]
        health = slot.get("health") or {}
        rate = traffic.get("error_rate")
        p95 = traffic.get("p95_ms")
        table.add_row(
            slot["name"],
            slot["version"] or "-",
            slot["state"] + (f" (exit {slot['exit_code']})" if slot["state"] == "crashed" else ""),
            str(slot["pid"] or "-"),
            str(slot["port"] or "-"),
            _health(health),
            _duration(slot["uptime"]) if slot.get("uptime") is not None else "-",
            str(traffic["requests_60s"]),
            f"{rate:.2%}" if rate is not None else "-",
            f"{p95:.1f}" if p95 is not None else "-",
        )
    print_table(table)
    for slot in status["slots"].values():
        if slot.get("error"):
            say(f"{slot['name']}: {slot['error']}")
        if slot.get("log"):
            say(f"{slot['name']} log: {slot['log']}")


def _health(health: dict[str, Any]) -> str:
    if not health:
        return "-"
    if health.get("ok"):
        return "ok"
    return f"failing ({health.get('status') or health.get('error')})"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def register(app: typer.Typer) -> None:
    """Add the `host` command group."""
    app.add_typer(host_app, name="host")
