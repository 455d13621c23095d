"""A real `turnout dashboard` process on a free loopback port, and Debian's Chromium to look
at it with every request to another host blocked."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Request, Route, sync_playwright

from tests.support.chromium_args import ARGS, CHROMIUM

SHOTS = Path("/tmp/dashboard-shots")
"""Where the tests keep their screenshots (to be looked at)."""
_URL = re.compile(r"dashboard on (\S+)")

# A project where `tester` deploys and only `lead` (senior-engineer, with a dashboard token)
# may approve, in `web` and in `vault`, where only signed approvals count: the extra
# configuration of tests/support/project.py's fake project.
TOKEN = "lead-token-0123456789abcdef"
PEOPLE = """
[[people]]
name = "lead"
roles = ["senior-engineer"]
dashboard_token = "env:LEAD_TOKEN"

[[people]]
name = "tester"

[environments.web.policy]
approvals = { required_roles = ["senior-engineer"] }

[environments.vault]
target = { kind = "fake", state_file = "vault-target.json" }

[environments.vault.policy]
approvals = { required_roles = ["senior-engineer"], signed = true }
"""


@dataclass
class Dashboard:
    """The running process and the URL it printed."""

    process: subprocess.Popen[str]
    url: str

    def stop(self) -> str:
        """Stop it (SIGINT, as Ctrl-C does); what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _out, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _out, err = self.process.communicate()
        return err


@contextmanager
def dashboard(
    config: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Dashboard]:
    """`turnout dashboard --listen 127.0.0.1:0 ARGS` until the block ends."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "turnout",
            "dashboard",
            "--listen",
            "127.0.0.1:0",
            *args,
            "--config",
            str(config),
        ],
        env={**os.environ, **(env or {})},
        cwd=cwd or config.parent,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = _URL.search(line)
    if found is None:
        process.kill()
        raise AssertionError(f"the dashboard did not start: {line}{process.stderr.read()}")
    running = Dashboard(process, found.group(1).rstrip("/"))
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright (no browser download)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Viewer:
    """A fresh browser profile whose pages may reach only the dashboard."""

    context: BrowserContext
    blocked: list[str] = field(default_factory=list)


@contextmanager
def viewer(browser: Browser, allowed: str) -> Iterator[Viewer]:
    """A new context (cookies of its own) refusing every host but `allowed`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    seen = Viewer(context)

    def block(route: Route, request: Request) -> None:
        if request.url.startswith(allowed):
            route.continue_()
        else:
            seen.blocked.append(request.url)
            route.abort()

    context.route("**/*", block)
    try:
        yield seen
    finally:
        context.close()


def keep_shot(path: Path) -> None:
    """Copy a screenshot where people look for them."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / path.name).write_bytes(path.read_bytes())
