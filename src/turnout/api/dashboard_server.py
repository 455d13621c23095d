"""`dashboard`: serve the live page (the `dashboard` extra)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from turnout.api.context import ConfigSource, load
from turnout.errors import BadInput

INSTALL_HINT = "pip install 'turnout[dashboard]'"


def require_dashboard() -> None:
    """Bad input (exit 2) naming what to install when the page's libraries are missing."""
    try:
        import jinja2  # noqa: F401 -- only whether they are there
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise BadInput(
            f"turnout dashboard needs the dashboard extra ({exc.name} is missing): {INSTALL_HINT}"
        ) from None


def dashboard(
    *,
    listen: str = "127.0.0.1:8765",
    actions: bool = False,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    plain_http: bool = False,
    origins: Sequence[str] = (),
    keepalive: float = 15.0,
    config: ConfigSource = None,
    on_ready: Callable[[str], None] = lambda _url: None,
) -> None:
    """Serve the page until interrupted (docs/dashboard.md); `on_ready` gets its URL."""
    require_dashboard()
    from turnout.dashboard.server import ServeOptions, parse_listen, serve

    options = ServeOptions(
        listen=parse_listen(listen),
        actions=actions,
        tls_cert=tls_cert,
        tls_key=tls_key,
        plain_http=plain_http,
        origins=tuple(origins),
        keepalive=keepalive,
    )
    serve(load(config), options, on_ready)
