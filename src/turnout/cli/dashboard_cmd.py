"""`turnout dashboard`: the live page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from turnout.cli.common import ConfigOption, console


def dashboard(
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to serve on (port 0: any free port).")
    ] = "127.0.0.1:8765",
    actions: Annotated[
        bool,
        typer.Option(
            "--actions", help="Switch on approve, accept and rollback for signed-in people."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).", dir_okay=False)
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM).", dir_okay=False)
    ] = None,
    plain_http: Annotated[
        bool,
        typer.Option(
            "--plain-http",
            help="Allow plain HTTP on an address other than loopback (TLS ends at a proxy).",
        ),
    ] = False,
    origin: Annotated[
        list[str] | None,
        typer.Option(
            "--origin", help="Another origin actions may come from (a proxy's public URL)."
        ),
    ] = None,
    keepalive: Annotated[
        float,
        typer.Option(
            help="Seconds between keep-alive comments on an idle stream (below a proxy's"
            " read timeout).",
            min=0.5,
            max=300.0,
        ),
    ] = 15.0,
    config: ConfigOption = None,
) -> None:
    """Serve a live page of every environment, deployment and its evidence (read-only
    unless --actions); needs turnout[dashboard]."""
    from turnout.api.dashboard_server import dashboard as serve
    from turnout.api.dashboard_server import require_dashboard

    require_dashboard()  # before the configuration is read: says what to install

    def ready(url: str) -> None:
        console.print(f"dashboard on {url} (Ctrl-C stops it)", markup=False)
        console.file.flush()

    serve(
        listen=listen,
        actions=actions,
        tls_cert=tls_cert,
        tls_key=tls_key,
        plain_http=plain_http,
        origins=origin or (),
        keepalive=keepalive,
        config=config,
        on_ready=ready,
    )


def register(app: typer.Typer) -> None:
    """Add the command."""
    app.command("dashboard")(dashboard)
