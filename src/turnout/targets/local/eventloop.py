"""The slot host's event loop: uvloop when it is installed, asyncio's own loop otherwise.

uvloop (libuv) runs the router's callbacks with less overhead per read and write
than asyncio's selector loop. It is a dependency where it has builds (CPython
on Linux and macOS); anywhere else, or with TURNOUT_EVENT_LOOP=asyncio in the
host's environment, the host runs on asyncio's loop with the same behaviour.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

SWITCH = "TURNOUT_EVENT_LOOP"
"""Environment variable: `asyncio` runs the host on asyncio's own loop even with uvloop."""


def loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """The loop's name and its factory (None: asyncio's default)."""
    if os.environ.get(SWITCH, "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", None


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """Run `main` to completion on the fastest loop available."""
    _, factory = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def current_loop_name() -> str:
    """The running loop's kind: "uvloop" or "asyncio"."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
