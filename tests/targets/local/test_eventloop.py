"""The host's event loop: uvloop when installed, asyncio's own loop as a clean fallback."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from tests.support.router_harness import router_harness
from turnout.targets.local import eventloop


async def _loop_name() -> str:
    return eventloop.current_loop_name()


def test_uvloop_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With uvloop importable and no switch, the host's loop is uvloop."""
    monkeypatch.delenv(eventloop.SWITCH, raising=False)
    expected = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert eventloop.loop_factory()[0] == expected
    assert eventloop.run(_loop_name()) == expected


def test_switch_falls_back_to_asyncio_and_the_router_works_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TURNOUT_EVENT_LOOP=asyncio runs on asyncio's loop, and the router proxies on it."""
    monkeypatch.setenv(eventloop.SWITCH, "asyncio")
    assert eventloop.loop_factory() == ("asyncio", None)
    assert eventloop.run(_loop_name()) == "asyncio"
    with router_harness("green") as harness:
        assert not type(harness.loop).__module__.startswith("uvloop")
        assert isinstance(harness.loop, asyncio.AbstractEventLoop)
        harness.route_to("green", "1.0.0")
        answer = harness.exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
