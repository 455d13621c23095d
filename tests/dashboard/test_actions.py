"""Actions in the page: a real dashboard process over a deployment waiting for approval on the
fake target; Chromium signs in with a person's token and approves; requests without sign-in,
with a token that is nobody's, from another origin or without the CSRF token are refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, expect

from tests.support.dashboard_process import Dashboard, dashboard, keep_shot, viewer
from tests.support.project import Project, fake_project
from turnout.store import Store

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
"""


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A deployment of 1.1.0 by `tester`, waiting for an approval from senior-engineer."""
    project = fake_project(tmp_path_factory.mktemp("actions") / "shop", extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "staging": None})
    done = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes")
    assert done.returncode == 3, done.stderr
    return project


@pytest.fixture(scope="module")
def board(waiting: Project) -> Iterator[Dashboard]:
    """The dashboard over it, actions on, lead able to sign in."""
    with dashboard(waiting.config, "--actions", env={"LEAD_TOKEN": TOKEN}) as running:
        yield running


def _audit_size(project: Project) -> int:
    with Store.open(project.root / ".turnout") as store:
        return len(store.audit_log(deployment_id=1))


def _approvals(project: Project) -> list[str]:
    with Store.open(project.root / ".turnout") as store:
        return [a.approver for a in store.approvals(1)]


def test_a_signed_in_person_approves_in_the_page(
    waiting: Project, board: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    """Signed in with lead's token, the page's approve button (confirmed) records lead's
    approval through the API, audited, and the page shows it; its resume button then runs
    the deployment to its end as lead, followed live."""
    with viewer(browser, board.url) as seen:
        page = seen.context.new_page()
        page.goto(f"{board.url}/deployments/1")
        expect(page.locator(".approvals-needed")).to_contain_text("may approve: lead")
        # Not signed in: no button, the command to run instead.
        assert page.locator("button.approve").count() == 0
        expect(page.locator(".hint")).to_contain_text("turnout approve 1 --as NAME")
        page.goto(f"{board.url}/signin?next=/deployments/1")
        page.fill("input[name=token]", "not-anybodys-token-at-all")
        page.click("form.signin button")
        expect(page.locator(".problem")).to_contain_text("nobody's")
        page.fill("input[name=token]", TOKEN)
        page.click("form.signin button")
        expect(page.locator("header .who")).to_contain_text("signed in as lead")
        questions: list[str] = []

        def confirm(dialog: Dialog) -> None:
            questions.append(dialog.message)
            dialog.accept()

        page.on("dialog", confirm)
        page.fill("input[name=comment]", "looks right")
        page.click("button.approve")
        expect(page.locator(".said")).to_contain_text("lead approved deployment 1")
        expect(page.locator("ul.approvals")).to_contain_text("lead (senior-engineer)")
        expect(page.locator("table.audit")).to_contain_text("approval")
        shot = tmp_path / "dashboard-approved.png"
        page.screenshot(path=str(shot), full_page=True)
        # Approved: resume from the page runs the deployment to its end, shown live.
        page.click("button.resume")
        expect(page.locator(".latest .status")).to_have_text("succeeded", timeout=60_000)
        assert questions == [
            "Approve deployment 1 (1.1.0 to web) as lead?",
            "Resume deployment 1 (1.1.0 to web) as lead?",
        ]
    keep_shot(shot)
    assert seen.blocked == []
    assert _approvals(waiting) == ["lead"]
    assert waiting.slots()["production"] == "1.1.0"


def test_actions_are_refused_without_sign_in_across_origins_and_without_csrf(
    waiting: Project, board: Dashboard, browser: Browser
) -> None:
    """No session: 401; a session but another site's Origin, no Origin, or no or a wrong
    CSRF token: 403; none of them reaches the API (the audit trail does not grow)."""
    before = _audit_size(waiting)
    with viewer(browser, board.url) as seen:
        request = seen.context.request
        own = {"Origin": board.url}
        anonymous = request.post(f"{board.url}/deployments/1/approve", headers=own, form={})
        assert anonymous.status == 401
        nobody = request.post(
            f"{board.url}/signin", headers=own, form={"token": "x" * 20, "next": "/"}
        )
        assert nobody.status == 401
        signed = request.post(
            f"{board.url}/signin", headers=own, form={"token": TOKEN, "next": "/"}
        )
        assert signed.ok
        page = seen.context.new_page()
        page.goto(f"{board.url}/env/web")
        csrf = page.locator("meta[name=csrf-token]").get_attribute("content")
        assert csrf
        url = f"{board.url}/deployments/1/approve"
        elsewhere = request.post(
            url, headers={"Origin": "http://attacker.example"}, form={"csrf": csrf}
        )
        assert elsewhere.status == 403 and "Origin" in elsewhere.text()
        assert request.post(url, form={"csrf": csrf}).status == 403  # no Origin at all
        no_csrf = request.post(url, headers=own, form={})
        assert no_csrf.status == 403 and "CSRF" in no_csrf.text()
        assert request.post(url, headers=own, form={"csrf": "x" * 43}).status == 403
    assert _audit_size(waiting) == before


@pytest.fixture(scope="module")
def signed_read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A read-only dashboard over a deployment waiting where only signed approvals count."""
    signed = PEOPLE.replace('["senior-engineer"] }', '["senior-engineer"], signed = true }')
    project = fake_project(tmp_path_factory.mktemp("signed") / "shop", extra=signed)
    project.set_slots({"production": "1.0.0", "staging": None})
    done = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes")
    assert done.returncode == 3, done.stderr
    with dashboard(project.config, env={"LEAD_TOKEN": TOKEN}) as running:
        yield running


@contextmanager
def _signed_in(board: Dashboard) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=board.url, headers={"Origin": board.url}) as client:
        assert client.post("/signin", data={"token": TOKEN, "next": "/"}).status_code == 303
        yield client


def test_a_read_only_dashboard_refuses_every_action(signed_read_only: Dashboard) -> None:
    """Started without --actions, the page refuses an action even from a signed-in person
    with the session's CSRF token."""
    with _signed_in(signed_read_only) as client:
        page = client.get("/deployments/1").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        refused = client.post("/deployments/1/approve", data={"csrf": csrf})
    assert refused.status_code == 403 and "read-only" in refused.text


def test_where_approvals_must_be_signed_the_page_gives_the_command(
    signed_read_only: Dashboard,
) -> None:
    """With `policy.approvals.signed`, a signed-in person sees the exact command to run with
    their SSH key, and no approve button."""
    with _signed_in(signed_read_only) as client:
        page = client.get("/deployments/1").text
    assert "turnout approve 1 --as lead --key YOUR_SSH_KEY" in page
    assert 'class="approve"' not in page
