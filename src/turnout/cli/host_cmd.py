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
    from turnout.api import host_up

    if foreground:
        from turnout.text import log_handler

        logging.basicConfig(level=logging.INFO, handlers=[log_handler(sys.stderr)])
        ran = host_up(env, foreground=True, config=config)
        if ran.already_running:
            say(f"slot host for {env} already runs (pid {ran.status['pid']})")
        return
    started = host_up(env, config=config)
    if as_json:
        emit_json(started.to_dict())
        return
    status = started.to_dict()
    verb = "already runs" if started.already_running else "started"
    say(f"slot host for {env} {verb} (pid {status['pid']}); router on http://{status['address']}")
    _render(status)


@host_app.command("down")
def down(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Stop the slot host: slot processes get SIGTERM, then SIGKILL after stop_grace."""
    from turnout.api import host_down

    stopped = host_down(env, config=config)
    if as_json:
        emit_json(stopped.to_dict())
    elif stopped.was_running:
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
    from turnout.api import host_metrics, host_status

    if metrics:
        sys.stdout.write(host_metrics(env, config=config))
        return
    current = host_status(env, config=config)
    if as_json:
        emit_json(current.to_dict())
    elif not current.running:
        say(f"slot host for {env} is not running (turnout host up --env {env})")
    else:
        document = current.to_dict()
        say(f"slot host for {env}: pid {document['pid']}, up {_duration(document['uptime'])}")
        _render(document)


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
