"""The slot host's admin protocol: JSON lines over a private UNIX socket, errors by kind."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_fixtures import write_config
from turnout.errors import BadInput, PackageError, Refused, StepError
from turnout.targets.local.admin import (
    AdminClient,
    AdminError,
    HostNotAnswering,
    HostNotRunning,
    serve_admin,
)
from turnout.targets.local.control import host_status, stop_host


async def _handler(request: dict[str, Any]) -> Any:
    """Answers like a host would, and fails on demand with each kind of error."""
    op = request["op"]
    if op == "ping":
        return {"pid": 1}
    if op == "echo":
        return {key: value for key, value in request.items() if key != "op"}
    if op == "path":
        return {"state_dir": Path("/srv/state")}  # not JSON by itself: sent as its text
    if op == "package":
        raise PackageError("package 1.2.0 is not a zip file", details={"version": "1.2.0"})
    if op == "bad":
        raise BadInput("slot 'green' does not exist")
    if op == "refused":
        raise Refused("slot blue is empty; not swapping it into production")
    if op == "step":
        raise StepError("release 1.2.0 did not become healthy", details={"slot": "blue"})
    if op == "admin":
        raise AdminError("bad", "unknown op 'admin'", {"known": ["echo"]})
    if op == "crash":
        raise ZeroDivisionError("division by zero")
    raise AdminError("bad", f"unknown op {op!r}")


class AdminServer:
    """serve_admin on its own event loop thread, for the length of a test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> AdminServer:
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(serve_admin(self.path, _handler), self.loop)
        self.server = started.result(timeout=10)
        return self

    def __exit__(self, *_exc: object) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[AdminServer]:
    """A running admin server on tmp_path/admin.sock."""
    with AdminServer(tmp_path / "admin.sock") as server:
        yield server


def _raw(path: Path, data: bytes, answers: int = 1) -> list[dict[str, Any]]:
    """Send bytes as they are and read `answers` JSON lines back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(data)
        received = b""
        while received.count(b"\n") < answers:
            piece = sock.recv(1 << 16)
            assert piece, f"connection closed after {received!r}"
            received += piece
    return [json.loads(line) for line in received.splitlines()]


def test_answer_is_one_json_line_with_ok_and_result(admin: AdminServer) -> None:
    """A request line is answered by one line {"ok": true, "result": ...}."""
    [answer] = _raw(admin.path, b'{"op": "echo", "slot": "blue"}\n')
    assert answer == {"ok": True, "result": {"slot": "blue"}}


def test_several_requests_on_one_connection_are_answered_in_order(admin: AdminServer) -> None:
    """Requests sent back to back on one connection get one answer each, in order."""
    lines = b"".join(json.dumps({"op": "echo", "n": n}).encode() + b"\n" for n in range(3))
    answers = _raw(admin.path, lines, answers=3)
    assert [a["result"] for a in answers] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_not_json_is_a_bad_request_and_the_connection_goes_on(admin: AdminServer) -> None:
    """A line that is not JSON is answered with kind "bad"; the next request still works."""
    bad, good = _raw(admin.path, b'{"op": \n{"op": "echo"}\n', answers=2)
    assert bad["ok"] is False and bad["error"]["kind"] == "bad"
    assert bad["error"]["message"].startswith("not JSON:")
    assert good == {"ok": True, "result": {}}


@pytest.mark.parametrize("line", [b"[1, 2]\n", b'"status"\n', b"{}\n", b'{"op": 7}\n'])
def test_request_without_a_string_op_is_refused_as_bad(admin: AdminServer, line: bytes) -> None:
    """Anything but a JSON object with a string `op` is a "bad" answer naming the shape."""
    [answer] = _raw(admin.path, line)
    assert answer == {
        "ok": False,
        "error": {"kind": "bad", "message": "expected a JSON object with an `op`"},
    }


@pytest.mark.parametrize(
    ("op", "kind", "details"),
    [
        ("package", "package", {"version": "1.2.0"}),
        ("bad", "bad", None),
        ("refused", "refused", None),
        ("step", "step", {"slot": "blue"}),
        ("admin", "bad", {"known": ["echo"]}),
    ],
)
def test_errors_carry_their_kind_message_and_details(
    admin: AdminServer, op: str, kind: str, details: dict[str, Any] | None
) -> None:
    """A turnout error or AdminError is answered with its kind, message and (if any) details."""
    [answer] = _raw(admin.path, json.dumps({"op": op}).encode() + b"\n")
    assert answer["ok"] is False
    assert answer["error"]["kind"] == kind
    assert answer["error"]["message"]
    assert answer["error"].get("details") == details


def test_unexpected_exception_is_an_internal_error_and_the_host_keeps_serving(
    admin: AdminServer,
) -> None:
    """A handler bug is answered as kind "internal" naming the exception; the server lives."""
    crash, after = _raw(admin.path, b'{"op": "crash"}\n{"op": "echo"}\n', answers=2)
    assert crash == {
        "ok": False,
        "error": {"kind": "internal", "message": "ZeroDivisionError: division by zero"},
    }
    assert after["ok"] is True


def test_values_json_cannot_hold_are_sent_as_text(admin: AdminServer) -> None:
    """A result holding a path is answered, the path as its text."""
    assert AdminClient(admin.path).call("path") == {"state_dir": "/srv/state"}


def test_client_sends_arguments_and_returns_the_result(admin: AdminServer) -> None:
    """AdminClient.call sends op and keyword arguments and returns only the result."""
    client = AdminClient(admin.path)
    assert client.call("echo", slot="blue", version="1.2.0") == {
        "slot": "blue",
        "version": "1.2.0",
    }
    assert client.alive() is True


def test_large_request_and_answer_cross_many_reads(admin: AdminServer) -> None:
    """A request and answer of a few MiB arrive whole (framing by newline, not by read)."""
    text = "x" * (3 * 1024 * 1024)
    assert AdminClient(admin.path).call("echo", blob=text) == {"blob": text}


@pytest.mark.parametrize(
    ("op", "error"),
    [
        ("package", PackageError),
        ("bad", BadInput),
        ("refused", Refused),
        ("step", StepError),
        ("crash", StepError),
    ],
)
def test_client_raises_the_turnout_error_of_each_kind(
    admin: AdminServer, op: str, error: type[Exception]
) -> None:
    """Each error kind becomes the matching turnout error (internal: a step error)."""
    with pytest.raises(error) as raised:
        AdminClient(admin.path).call(op)
    assert type(raised.value) is error


def test_client_keeps_the_error_details(admin: AdminServer) -> None:
    """The details of the host's error reach the caller's exception."""
    with pytest.raises(PackageError) as raised:
        AdminClient(admin.path).call("package")
    assert raised.value.message == "package 1.2.0 is not a zip file"
    assert raised.value.details == {"version": "1.2.0"}


def test_socket_is_private_and_replaces_a_stale_one(tmp_path: Path) -> None:
    """The socket is mode 0600, also when a stale socket file was left at its path."""
    path = tmp_path / "admin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # left behind by a host that was killed
    with AdminServer(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert AdminClient(path).call("echo") == {}


def test_nobody_listening_is_host_not_running(tmp_path: Path) -> None:
    """No socket, or a socket nobody listens on: HostNotRunning naming the path."""
    missing = tmp_path / "missing.sock"
    with pytest.raises(HostNotRunning, match=r"missing\.sock"):
        AdminClient(missing).call("status")
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(dead))
    with pytest.raises(HostNotRunning):
        AdminClient(dead).call("status")
    assert AdminClient(missing).alive() is False


def test_silent_host_is_host_not_answering_after_the_timeout(tmp_path: Path) -> None:
    """A host that accepts but never answers: HostNotAnswering naming op and timeout."""
    path = tmp_path / "wedged.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen()
        with pytest.raises(HostNotAnswering) as raised:
            AdminClient(path, timeout=0.3).call("swap", slot="blue")
    assert raised.value.details == {"op": "swap", "timeout": 0.3}
    assert "did not answer 'swap' within 0.3 s" in raised.value.message


def test_connection_closed_without_an_answer_is_a_step_error(tmp_path: Path) -> None:
    """A host that drops the connection mid-request: a step error naming the op."""
    path = tmp_path / "closing.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen()

        def drop() -> None:
            connection, _ = listener.accept()
            connection.recv(1024)
            connection.close()

        dropping = threading.Thread(target=drop)
        dropping.start()
        with pytest.raises(StepError, match="closed the admin connection during 'deploy'"):
            AdminClient(path).call("deploy")
        dropping.join(10)


def test_control_reports_a_host_that_never_started_as_not_running(tmp_path: Path) -> None:
    """host_status is None and stop_host is False when no host was ever started."""
    config = write_config(tmp_path)
    env = config.env("production")
    assert host_status(config, env) is None
    assert stop_host(config, env) is False
