"""The host's admin interface: JSON lines over a UNIX socket readable by its owner only.

Request: {"op": NAME, ...arguments}. Answer: {"ok": true, "result": ...} or
{"ok": false, "error": {"kind": K, "message": ..., "details": {}}} where K is one of
step, package, bad, refused, internal.
Nothing that changes slots listens on TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from turnout.errors import BadInput, PackageError, Refused, StepError, TurnoutError

log = logging.getLogger("turnout.host")

_LINE_LIMIT = 16 * 1024 * 1024
Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class AdminError(TurnoutError):
    """An admin request the host refuses (bad operation or argument), answered with its kind."""

    exit_code = BadInput.exit_code

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.kind = kind


class HostNotRunning(StepError):
    """Nobody answers on the admin socket."""


class HostNotAnswering(StepError):
    """A host accepted the request on its admin socket but gave no answer in time (wedged)."""


async def serve_admin(path: Path, handler: Handler) -> asyncio.Server:
    """Listen on the UNIX socket `path` (mode 0600) and answer requests with `handler`."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await _answer(line, handler)
                writer.write(json.dumps(answer, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    # The umask makes the socket private from the moment it exists (no chmod race).
    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(client, path=str(path), limit=_LINE_LIMIT)
    finally:
        os.umask(old)
    path.chmod(0o600)
    return server


async def _answer(line: bytes, handler: Handler) -> dict[str, Any]:
    try:
        request = json.loads(line)
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise AdminError("bad", "expected a JSON object with an `op`")
        return {"ok": True, "result": await handler(request)}
    except AdminError as exc:
        return {"ok": False, "error": {"kind": exc.kind, "message": exc.message, **_d(exc)}}
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": {"kind": "bad", "message": f"not JSON: {exc}"}}
    except TurnoutError as exc:
        kind = "step"
        if isinstance(exc, PackageError):
            kind = "package"
        elif isinstance(exc, BadInput):
            kind = "bad"
        elif isinstance(exc, Refused):
            kind = "refused"
        return {"ok": False, "error": {"kind": kind, "message": exc.message, **_d(exc)}}
    except Exception as exc:
        log.exception("admin request failed")
        return {
            "ok": False,
            "error": {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"},
        }


def _d(exc: TurnoutError) -> dict[str, Any]:
    return {"details": exc.details} if exc.details else {}


class AdminClient:
    """Blocking client of one host's admin socket."""

    def __init__(self, path: Path, timeout: float = 15.0) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, op: str, *, timeout: float | None = None, **arguments: Any) -> Any:
        """Send one request and return its result; errors become turnout errors."""
        request = json.dumps({"op": op, **arguments}).encode() + b"\n"
        seconds = self.timeout if timeout is None else timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(seconds)
        try:
            try:
                sock.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise HostNotRunning(f"no slot host answers on {self.path}") from exc
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\n"):
                piece = sock.recv(1 << 16)
                if not piece:
                    raise StepError(f"slot host closed the admin connection during {op!r}")
                data += piece
        except TimeoutError as exc:
            raise HostNotAnswering(
                f"slot host on {self.path} did not answer {op!r} within {seconds:g} s",
                details={"op": op, "timeout": seconds},
            ) from exc
        except OSError as exc:
            raise StepError(f"admin socket {self.path}: {exc}") from exc
        finally:
            sock.close()
        answer = json.loads(data)
        if answer.get("ok"):
            return answer.get("result")
        error = answer.get("error") or {}
        message = str(error.get("message", "unknown error"))
        details = error.get("details") or {}
        kind = error.get("kind")
        if kind == "package":
            raise PackageError(message, details=details)
        if kind == "bad":
            raise BadInput(message, details=details)
        if kind == "refused":
            raise Refused(message, details=details)
        raise StepError(message, details=details)

    def alive(self) -> bool:
        """Whether a host answers."""
        try:
            self.call("ping", timeout=2.0)
        except (HostNotRunning, StepError):
            return False
        return True
