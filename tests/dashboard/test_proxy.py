"""The dashboard behind a real reverse proxy (Debian's nginx, buffering on, a 3-second read
timeout): the stream passes each event on at once, keep-alives hold it open through quiet
spells longer than the proxy's timeout, and sign-in passes the Origin check through it."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from tests.support.dashboard_process import TOKEN, Dashboard, keep_shot, viewer
from tests.support.project import Project
from tests.support.reverse_proxy import NGINX, nginx
from tests.support.waiting import wait_until
from turnout import api
from turnout.errors import Refused

pytestmark = pytest.mark.skipif(not NGINX.exists(), reason="make system-tools installs nginx")
READ_TIMEOUT = 3.0


def test_the_page_stays_live_through_nginx(
    waiting: Project, board: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    """Through nginx: sign in, then after a quiet spell longer than the proxy's read
    timeout a change in the store reaches the open page over the same stream (one
    /events request in the proxy's log)."""
    upstream = urlsplit(board.url).netloc
    with nginx(tmp_path / "nginx", upstream, read_timeout=READ_TIMEOUT) as proxy:
        with viewer(browser, proxy.url) as seen:
            page = seen.context.new_page()
            page.goto(f"{proxy.url}/signin?next=/env/web")
            page.fill("input[name=token]", TOKEN)
            page.click("form.signin button")
            expect(page.locator("header .who")).to_contain_text("signed in as lead")
            expect(page.locator("#stream-state")).to_have_text("live")
            shown = page.evaluate("document.body.dataset.eventId")
            time.sleep(READ_TIMEOUT + 1.5)  # quiet, but for the dashboard's keep-alives
            # A change in the store: a refused approval is audited (nothing else changes).
            with pytest.raises(Refused):
                api.approve(1, actor="tester", config=waiting.config)
            page.wait_for_function(f"document.body.dataset.eventId !== '{shown}'", timeout=3_000)
            expect(page.locator("#stream-state")).to_have_text("live")
            page.screenshot(path=str(tmp_path / "dashboard-through-nginx.png"), full_page=True)
        # nginx logs a request when it ends: the stream's, once the browser has gone.
        wait_until(lambda: "GET /events" in "\n".join(proxy.requests()), timeout=10)
        streams = [line for line in proxy.requests() if line.startswith("GET /events")]
    assert len(streams) == 1, proxy.requests()
    assert "POST /signin 303" in proxy.requests()
    assert seen.blocked == []
    keep_shot(tmp_path / "dashboard-through-nginx.png")
