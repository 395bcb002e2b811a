"""The dashboard keeps its token and its data when Codegen refuses the Codegen API token.

A real Chromium: the page's own token is right, the stack's Codegen API token is wrong, so
the agent log of the selected task cannot be read; the page says which token to fix and
stays signed in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from codegen_mcp.settings import Settings
from tests.browser import SECOND
from tests.support import Front, Worker
from tests.test_dashboard import QUICK, TOKEN

pytestmark = pytest.mark.usefixtures("chromium_installed")  # skip before a worker starts


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def test_a_refused_codegen_token_is_shown_and_the_page_keeps_its_own(
    page: Page, front: Front, settings: Settings, worker: Worker
) -> None:
    task_id = front.ok("new", {"repo": "acme/web", "query": f"Fix typos {QUICK}"})["task_id"]
    front.wait_state(task_id, "completed")
    refused = Front(settings.with_(auth_token=TOKEN, api_token="not-a-codegen-token"))
    try:
        page.goto(f"{refused.url}/dashboard?task={task_id}")
        page.fill("#token", TOKEN)
        page.click("#login-form button[type=submit]")
        detail = page.locator("#detail")
        expect(detail).to_contain_text("CODEGEN_API_TOKEN", timeout=10 * SECOND)
        expect(page.locator("#login")).to_be_hidden()
        expect(page.locator(f'tr[data-task-id="{task_id}"]')).to_be_visible()
    finally:
        refused.stop()
