"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Runs are started through the HTTP front, as a user would; the page must follow them by
itself (it polls POST /), so nothing here reloads it except where a test says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from codegen_mcp.settings import Settings
from tests.browser import SECOND
from tests.support import Front, Worker

pytestmark = pytest.mark.usefixtures("chromium_installed")  # skip before a worker starts

QUICK = "[sim:active=0.5] [sim:eval=0]"
TOKEN = "dashboard-secret"
STATE = "[data-field=state]"
NODE_STATE = ":scope > .tree-line [data-field=state]"  # not its children's


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def test_a_run_started_over_http_appears_completes_and_shows_its_delivered_child(
    page: Page, front: Front, worker: Worker
) -> None:
    page.goto(f"{front.url}/dashboard")
    expect(page.locator("#connection")).to_contain_text("live")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    plan = front.ok(
        "new",
        {"repo": "acme/demo", "task": "CREATE_PLAN", "query": "Plan [sim:active=4] [sim:eval=0]"},
    )
    row = page.locator(f'tr[data-task-id="{plan["task_id"]}"]')
    expect(row.locator(STATE)).to_have_text(re.compile("^(queued|running)$"), timeout=10 * SECOND)
    expect(row).to_contain_text("acme/demo")
    expect(row).to_contain_text("CREATE_PLAN")
    expect(row.locator(STATE)).to_have_text("completed", timeout=30 * SECOND)
    status = front.status(plan["task_id"])
    expect(row.locator("a.run-link")).to_have_attribute("href", status["web_url"])
    expect(row.locator("a.pr")).to_have_attribute("href", status["pull_requests"][0]["url"])

    orchestrator = status["agent_run_id"]
    child = front.ok(
        "new",
        {
            "repo": "acme/demo",
            "task": "IMPLEMENT",
            "query": f"Extract the billing module {QUICK}",
            "orchestrator_run_id": orchestrator,
        },
    )["task_id"]
    node = page.locator(f'.tree-root[data-run-id="{orchestrator}"] li[data-task-id="{child}"]')
    expect(node.locator(":scope > .tree-line .delivery")).to_have_text(
        re.compile("^delivered"), timeout=30 * SECOND
    )
    expect(node.locator(NODE_STATE)).to_have_text("completed")
    assert page.evaluate("window.sameDocument") is True

    node.locator(":scope > .tree-line").click()
    detail = page.locator("#detail")
    expect(detail.locator("pre.result")).to_contain_text("## Done: Extract the billing module")
    expect(detail.locator(".facts")).to_contain_text(f"#{orchestrator}")


def test_a_paused_runs_question_a_failed_runs_error_and_logs_show_as_plain_text(
    page: Page, front: Front, worker: Worker
) -> None:
    query = (
        f"Rename <img src=x onerror=window.pwned=1> the <b>billing</b> module [sim:paused] {QUICK}"
    )
    task_id = front.ok("new", {"repo": "acme/web", "query": query})["task_id"]
    failed = front.ok("new", {"repo": "acme/web", "query": f"Break [sim:error] {QUICK}"})
    front.wait_state(task_id, "paused")
    error = front.wait_state(failed["task_id"], "failed")["error"]

    page.goto(f"{front.url}/dashboard")
    page.locator(f'tr[data-task-id="{task_id}"]').click()
    detail = page.locator("#detail")
    question = detail.locator(".callout-question")
    expect(question).to_contain_text("should I change the existing behaviour")
    expect(question).to_contain_text("<b>billing</b>")
    expect(detail.locator("ol.logs li").first).to_be_visible(timeout=10 * SECOND)
    expect(detail.locator("ol.logs")).to_contain_text("FINAL_ANSWER")
    assert page.locator("img, #detail b, #task-rows b").count() == 0
    assert page.evaluate("window.pwned") is None

    page.locator(f'tr[data-task-id="{failed["task_id"]}"]').click()
    expect(detail.locator(".callout-error")).to_contain_text(error)
    expect(detail.locator(".callout-question")).to_have_count(0)


def test_with_auth_on_the_page_shows_no_task_data_until_the_token_is_given(
    page: Page, front: Front, settings: Settings, worker: Worker
) -> None:
    task_id = front.ok("new", {"repo": "acme/infra", "query": f"Rotate certificates {QUICK}"})[
        "task_id"
    ]
    secured = Front(settings.with_(auth_token=TOKEN))
    answers: list[int] = []
    page.on("response", lambda r: r.request.method == "POST" and answers.append(r.status))
    try:
        page.goto(f"{secured.url}/dashboard")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        page.fill("#token", "not-the-token")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("rejected")
        assert answers and set(answers) == {401}
        assert task_id not in page.content() and "acme/infra" not in page.content()

        page.fill("#token", TOKEN)
        page.click("#login-form button[type=submit]")
        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row).to_be_visible()
        expect(page.locator("#login")).to_be_hidden()

        page.reload()  # the token stays with this tab
        expect(row).to_be_visible()
        page.click("#forget-token")
        expect(page.locator("#login")).to_be_visible()
        assert task_id not in page.content()
    finally:
        secured.stop()
