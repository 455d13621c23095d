"""The --html page: one self-contained file whose charts a headless Chromium shows with every
request to another host blocked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Request, Route, sync_playwright

from tests.support.chromium_args import ARGS, CHROMIUM
from tests.support.report_history import DAYS, UNTIL, untidy_month
from turnout import api

SHOTS = Path("/tmp/report-shots")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="make system-tools installs chromium")
def test_the_page_shows_its_charts_offline(tmp_path: Path) -> None:
    """Every chart is an inline SVG drawn in the page; nothing is asked of any other host."""
    project = untidy_month(tmp_path / "shop")
    result = api.report("web", days=DAYS, by="week", until=UNTIL, config=project.config)
    page_file = tmp_path / "report.html"
    api.write_page(result, page_file)
    text = page_file.read_text(encoding="utf-8")
    assert page_file.stat().st_mode & 0o444 == 0o444 & ~_umask()  # shareable, as new files are
    # No reference that would be fetched: only the SVG namespaces name a URL.
    for fetched in ('src="', "url(http", "<link", "<script", 'href="http'):
        assert fetched not in text, fetched
    asked: list[str] = []

    def block(route: Route, request: Request) -> None:
        if request.url.startswith("file:"):
            route.continue_()
        else:
            asked.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        # A fresh profile of its own (Playwright passes it as --user-data-dir).
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            viewport={"width": 1200, "height": 900},
        )
        try:
            page = browser.new_page()
            page.route("**/*", block)
            page.goto(page_file.as_uri())
            charts = page.locator("figure.chart svg")
            # Four charts of the period and one per deployment with traffic (8 reached
            # production; every one has a recorded series except the held D9).
            assert charts.count() == 4 + 7
            sizes = charts.evaluate_all(
                "nodes => nodes.map(n => [n.getBoundingClientRect().width,"
                " n.getBoundingClientRect().height])"
            )
            assert all(w > 300 and h > 100 for w, h in sizes)
            assert "Change fail rate per week" in page.content()
            assert page.locator("tr.missed").count() == 3
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert asked == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / "report.png")
