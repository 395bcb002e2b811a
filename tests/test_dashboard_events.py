"""The dashboard follows tasks on the event stream in a real browser (Chromium): it redraws
when an event comes and makes no request while nothing changes; against a server without
/events it polls as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.browser import SECOND
from tests.sse import Stream
from tests.support import Front, Worker, fast_settings

pytestmark = pytest.mark.usefixtures("chromium_installed")  # skip before a worker starts

QUICK = "[sim:active=0.5] [sim:eval=0]"
STATE = "[data-field=state]"
QUIET_HEARTBEATS = 8  # 4 s at 0.5 s: twice the polling period


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return fast_settings(redis_url, sim.url, data, events_heartbeat=0.5)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def commands_sent(page: Page) -> list[Request]:
    """The POST / requests the page makes from now on (as the browser reports them)."""
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" else None)
    return sent


def test_the_dashboard_redraws_on_events_and_does_not_poll(
    page: Page, front: Front, worker: Worker
) -> None:
    sent = commands_sent(page)
    page.goto(f"{front.url}/dashboard")
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-push", "events")
    task_id = front.ok("new", {"repo": "acme/demo", "query": f"Add a README {QUICK}"})["task_id"]
    row = page.locator(f'tr[data-task-id="{task_id}"]')
    expect(row.locator(STATE)).to_have_text("completed", timeout=30 * SECOND)
    assert sent, "the page reads the commands when an event comes"

    expect(connection).not_to_contain_text("polling")
    before = len(sent)
    with Stream(front.url) as clock:
        clock.wait_heartbeats(QUIET_HEARTBEATS)  # nothing changes meanwhile
    page.evaluate("1")  # let Playwright deliver the page's request events
    assert len(sent) == before, [r.post_data for r in sent[before:]]


def test_the_dashboard_polls_a_server_without_events(
    page: Page, settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    older = Front(settings.with_(max_event_streams=0))  # /events answers 404
    try:
        page.goto(f"{older.url}/dashboard")
        connection = page.locator("#connection")
        expect(connection).to_contain_text("live (polling)")
        expect(connection).to_have_attribute("data-push", "polling")
        task_id = older.ok("new", {"repo": "acme/demo", "query": f"Fix it {QUICK}"})["task_id"]
        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row.locator(STATE)).to_have_text("completed", timeout=30 * SECOND)
    finally:
        older.stop()


def test_the_stream_carries_the_token_the_user_gave(
    page: Page, settings: Settings, worker: Worker
) -> None:
    secured = Front(settings.with_(auth_token="dashboard-events-secret"))
    try:
        page.goto(f"{secured.url}/dashboard")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#token", "dashboard-events-secret")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#connection")).to_have_attribute("data-push", "events")
    finally:
        secured.stop()
