"""Where the page listens, and the checks before it does.

Loopback (the default, 127.0.0.1:8765) is reachable only from this machine. Any other
address needs sign-in configured (a person with a `dashboard_token`), and either TLS here
(`--tls-cert`/`--tls-key`) or `--plain-http`, which says TLS ends at a reverse proxy in
front. Off loopback, viewing needs a signed-in person too. Everything is checked before the
socket is bound.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from turnout.config import LoadedConfig
from turnout.dashboard.app import Settings, build_app
from turnout.dashboard.auth import Sessions, people_tokens
from turnout.errors import BadInput
from turnout.store.changes import open_read_only

DEFAULT_LISTEN = "127.0.0.1:8765"


@dataclass(frozen=True)
class Listen:
    """A host and port to listen on (port 0: any free one)."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach it."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_listen(text: str) -> Listen:
    """`HOST:PORT` (IPv6 in brackets); bad input names the option."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BadInput(f"--listen: {text!r} is not HOST:PORT (e.g. {DEFAULT_LISTEN})")
    return Listen(host, int(port))


@dataclass(frozen=True)
class ServeOptions:
    """The command's options."""

    listen: Listen
    actions: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    plain_http: bool = False
    origins: tuple[str, ...] = ()
    keepalive: float = 15.0


def check(options: ServeOptions, sessions: Sessions) -> None:
    """Refuse (exit 2) what would expose the page, before anything is bound."""
    if (options.tls_cert is None) != (options.tls_key is None):
        raise BadInput("--tls-cert and --tls-key go together")
    for given in (options.tls_cert, options.tls_key):
        if given is not None and not given.is_file():
            raise BadInput(f"{given}: no such file (for TLS)")
    if options.listen.loopback:
        return
    if not sessions.configured:
        raise BadInput(
            f"--listen {options.listen.host}: any address but loopback needs sign-in; give"
            " people a `dashboard_token` in turnout.toml (docs/dashboard.md)"
        )
    if options.tls_cert is None and not options.plain_http:
        raise BadInput(
            f"--listen {options.listen.host}: any address but loopback needs TLS (--tls-cert"
            " and --tls-key), or --plain-http when a reverse proxy in front terminates TLS"
        )


def serve(config: LoadedConfig, options: ServeOptions, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted; `on_ready` gets the page's URL once it listens."""
    import uvicorn

    sessions = Sessions(people_tokens(config))
    check(options, sessions)
    tls = options.tls_cert is not None
    settings = Settings(
        actions=options.actions,
        sign_in_to_view=not options.listen.loopback,
        origins=options.origins,
        secure_cookie=tls,
        keepalive=options.keepalive,
    )
    store = open_read_only(config.state_dir)
    app = build_app(config, store, sessions, settings)
    family = socket.AF_INET6 if ":" in options.listen.host else socket.AF_INET
    try:
        sock = socket.create_server((options.listen.host, options.listen.port), family=family)
    except OSError as exc:
        raise BadInput(
            f"--listen {options.listen.host}:{options.listen.port}: {exc.strerror}"
        ) from None
    port = sock.getsockname()[1]
    host = f"[{options.listen.host}]" if family == socket.AF_INET6 else options.listen.host
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            # Streams never end by themselves: shutting down does not wait for them.
            timeout_graceful_shutdown=1,
            ssl_certfile=str(options.tls_cert) if tls else None,
            ssl_keyfile=str(options.tls_key) if tls else None,
            proxy_headers=False,
        )
    )
    on_ready(f"{'https' if tls else 'http'}://{host}:{port}/")
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
        sock.close()
