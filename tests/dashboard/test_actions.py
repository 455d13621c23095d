"""Actions in the page: a real dashboard process over a deployment waiting for approval on the
fake target; Chromium signs in with a person's token and approves; requests without sign-in,
with a token that is nobody's, from another origin or without the CSRF token are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser, Dialog, expect

from tests.support.dashboard_process import TOKEN, Dashboard, keep_shot, viewer
from tests.support.project import Project
from turnout.store import Store


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


def test_where_approvals_must_be_signed_the_page_gives_the_command(board: Dashboard) -> None:
    """With `policy.approvals.signed`, a signed-in person sees the exact command to run with
    their SSH key, and no approve button, though actions are on."""
    with httpx.Client(base_url=board.url, headers={"Origin": board.url}) as client:
        assert client.post("/signin", data={"token": TOKEN, "next": "/"}).status_code == 303
        page = client.get("/deployments/2").text
    assert "turnout approve 2 --as lead --key YOUR_SSH_KEY" in page
    assert 'class="approve"' not in page and "waits for approval" in page
