"""One Chromium for the dashboard's browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.dashboard_process import CHROMIUM, chromium


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, started once for these tests."""
    if not Path(CHROMIUM).exists():
        pytest.skip("make system-tools installs chromium")
    with chromium() as started:
        yield started
