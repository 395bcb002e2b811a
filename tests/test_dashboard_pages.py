"""The dashboard with many tasks, in a real browser: pages of tasks, one clock for every time.

A module of its own so that its front (module-scoped) holds exactly the tasks made here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import SECOND
from tests.support import Front, Worker

pytestmark = pytest.mark.usefixtures("chromium_installed")  # skip before a worker starts

QUICK = "[sim:active=0.3] [sim:eval=0]"
TASKS = 30
PAGE = 10
ISO_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def pages(first: int, last: int, total: int) -> str:
    """What the pager says: "1\u201310 of 30", with an en dash."""
    return f"{first}\u2013{last} of {total}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # en-US: a locale whose default clock is 12-hour, so a time left to the locale shows "PM".
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def thirty_tasks(front: Front, worker: Worker) -> list[str]:
    """An orchestrator with a child that keeps running (so it has a tree), and 28 more tasks."""
    root = front.ok("new", {"repo": "acme/demo", "query": f"Orchestrate {QUICK}"})["task_id"]
    run_id = front.wait_state(root, "completed")["agent_run_id"]
    child = {"repo": "acme/demo", "query": "Extract billing [sim:stuck]"}
    ids = [root, front.ok("new", {**child, "orchestrator_run_id": run_id})["task_id"]]
    for n in range(TASKS - 2):
        repo = ("acme/demo", "acme/web", "acme/infra")[n % 3]
        ids.append(front.ok("new", {"repo": repo, "query": f"Task {n} {QUICK}"})["task_id"])
    return ids


def test_thirty_tasks_come_in_pages_and_the_orchestrators_stay_in_view(
    page: Page, front: Front, thirty_tasks: list[str]
) -> None:
    page.goto(f"{front.url}/dashboard")
    rows = page.locator("#task-rows tr")
    expect(rows).to_have_count(PAGE, timeout=10 * SECOND)
    expect(page.locator("#page-info")).to_have_text(pages(1, PAGE, TASKS))
    expect(page.locator("#counts")).to_contain_text("running")  # counts cover every page
    expect(page.locator("#trees .tree-root")).to_be_in_viewport()  # above the fold at 1400x900
    newest = thirty_tasks[::-1]
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.taskId)") == newest[:PAGE]

    expect(page.locator("#page-prev")).to_be_disabled()
    page.click("#page-next")
    expect(page.locator("#page-info")).to_have_text(pages(11, 20, TASKS))
    expect(rows.first).to_have_attribute("data-task-id", newest[PAGE])
    page.click("#page-next")
    expect(page.locator("#page-info")).to_have_text(pages(21, 30, TASKS))
    expect(page.locator("#page-next")).to_be_disabled()
    expect(rows.last).to_have_attribute("data-task-id", newest[-1])

    page.reload()  # the page is kept in the address, like the filters
    expect(page.locator("#page-info")).to_have_text(pages(21, 30, TASKS))
    page.select_option("#filter-state", "running")  # a new filter starts at the first page
    expect(page.locator("#page-info")).to_have_text(pages(1, 1, 1))


def test_every_time_on_the_page_uses_one_24_hour_clock(
    page: Page, front: Front, thirty_tasks: list[str]
) -> None:
    page.goto(f"{front.url}/dashboard?task={thirty_tasks[0]}")
    facts = page.locator("#detail .facts")
    expect(facts).to_contain_text("Completed", timeout=10 * SECOND)
    for name in ("Created", "Started", "Completed"):
        shown = facts.locator(f"dt:text-is('{name}') + dd").inner_text()
        assert ISO_LOCAL.match(shown), (name, shown)
    expect(page.locator("#detail ol.logs time").first).to_have_text(
        re.compile(r"^\d{2}:\d{2}:\d{2}$"), timeout=10 * SECOND
    )
    titles = page.locator("[title]").evaluate_all("nodes => nodes.map(n => n.title)")
    text = page.inner_text("body") + " ".join(titles)
    assert not re.search(r"\b[AP]M\b", text), text
